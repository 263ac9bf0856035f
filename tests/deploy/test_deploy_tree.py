"""deploy/ holds no file that nothing reads, and its README covers what an operator sets."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.manifests import (
    BASE,
    CONTRACT_ENV,
    DEPLOY,
    KUBERNETES_SCRAPE,
    OVERLAYS,
    README,
    ROOT,
    compose,
    render,
)


def _compose_mounted_files() -> set[Path]:
    files: set[Path] = set()
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("./"):
                continue  # a named volume
            path = (ROOT / source).resolve()
            assert path.exists(), f"compose mounts missing {source}"
            files |= {p for p in path.rglob("*") if p.is_file()} if path.is_dir() else {path}
    return files


def test_every_file_under_deploy_is_read_by_a_kustomization_compose_or_a_test() -> None:
    exercised = _compose_mounted_files() | {KUBERNETES_SCRAPE.resolve(), README.resolve()}
    for directory in (BASE, *OVERLAYS.values()):
        exercised |= render(directory).sources
    present = {p.resolve() for p in DEPLOY.rglob("*") if p.is_file()}
    assert present <= exercised, sorted(str(p.relative_to(DEPLOY)) for p in present - exercised)


def test_readme_names_every_overlay_and_every_setting() -> None:
    text = README.read_text()
    for directory in OVERLAYS.values():
        assert str(directory.relative_to(DEPLOY)) in text
    for name in CONTRACT_ENV:
        assert f"`{name}`" in text, name
