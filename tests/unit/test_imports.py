"""Every module imports with the installed dependencies (tools/import_all.py, which `make floors`
also runs in a venv of the runtime floors alone, as the image installs them)."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

from tests.deploy.manifests import ROOT

_spec = importlib.util.spec_from_file_location("import_all", ROOT / "tools" / "import_all.py")
assert _spec is not None
assert _spec.loader is not None
import_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_all)


@pytest.mark.parametrize("name", import_all.modules())
def test_module_imports(name: str) -> None:
    importlib.import_module(name)
