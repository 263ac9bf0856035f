"""Every module imports with the installed dependencies: the floor-versions CI job runs this, so a
dependency floor that lacks something the code imports (`typer._click`, say) fails there."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import campaign
import schedules
import workers


def _modules() -> list[str]:
    names = []
    for package in (campaign, workers, schedules):
        prefix = package.__name__ + "."
        for info in pkgutil.walk_packages(package.__path__, prefix):
            if ".migrations." not in info.name and not info.name.endswith("__main__"):
                names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_module_imports(name: str) -> None:
    importlib.import_module(name)
