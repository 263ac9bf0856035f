"""The console ships whole in the wheel and loads nothing from elsewhere."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

from campaign.api.console import STATIC

ROOT = Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"""(?:import|from)\s*(?:[\w{}\s,*]+from\s*)?["'](\.[^"']+)["']""")
URL = re.compile(r"""(?:src|href)="([^"#]+)\"""")


def _assets() -> list[Path]:
    return sorted(p for p in STATIC.rglob("*") if p.is_file())


def test_every_module_the_page_imports_exists_and_nothing_comes_from_another_origin() -> None:
    index = (STATIC / "index.html").read_text()
    for url in URL.findall(index):
        assert url.startswith(("/console/", "data:")), url
        if url.startswith("/console/"):
            assert (STATIC / url.removeprefix("/console/")).is_file(), url
    for script in STATIC.glob("js/*.js"):
        text = script.read_text().replace('"http://www.w3.org/2000/svg"', "")  # a name, not a URL
        assert "http://" not in text
        assert "https://" not in text
        assert "innerHTML" not in text, f"{script.name}: build elements with dom.h"
        for module in IMPORT.findall(text):
            assert (script.parent / module).resolve().is_file(), f"{script.name}: {module}"


def test_the_wheel_carries_every_console_asset(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in _assets():
        assert asset.relative_to(ROOT).as_posix() in names, asset
