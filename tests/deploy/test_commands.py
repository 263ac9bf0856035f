"""Every `campaign ...` command line the deployment files run is one the CLI accepts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from campaign.cli import app
from tests.deploy.manifests import BASE, OVERLAYS, compose, engine_pod_specs, render

ENGINE_SERVICES = ("migrate", "api", "worker", "dispatcher", "simulator")


def _command_lines() -> set[tuple[str, ...]]:
    lines: set[tuple[str, ...]] = set()
    services = compose()["services"]
    for name in ENGINE_SERVICES:
        lines.add(tuple(services[name]["command"]))
        check = services[name].get("healthcheck", {}).get("test", [])
        if check[1:2] == ["campaign"]:
            lines.add(tuple(check[2:]))
    for directory in (BASE, *OVERLAYS.values()):
        for _, spec in engine_pod_specs(render(directory).objects):
            for container in spec["containers"]:
                lines.add(tuple(container["args"]))
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    command = container.get(probe, {}).get("exec", {}).get("command", [])
                    if command[:1] == ["campaign"]:
                        lines.add(tuple(command[1:]))
    return lines


@pytest.mark.parametrize("line", sorted(_command_lines()), ids=" ".join)
def test_deployed_command_line_is_accepted_by_the_campaign_cli(line: tuple[str, ...]) -> None:
    # --help is eager: the options before it are still parsed, but nothing runs.
    result = CliRunner().invoke(app, [*line, "--help"])
    assert result.exit_code == 0, result.output
