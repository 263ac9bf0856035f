"""How tests and benchmarks launch a browser: Debian's chromium, by path, headless, offline.

Playwright's own browser download cannot be reached here, so the system `chromium` package is
launched through `executable_path` with flags that keep it from calling home or needing a GPU.
"""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
