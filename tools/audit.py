"""`make audit`: pip-audit over the locked dependency set (requirements/dev.lock).

Fails on a known vulnerability that has a fixed version, unless requirements/audit-ignore.txt
lists its ID (with a reason); one without any fix is printed but does not fail. pip-audit asks
PyPI's per-release JSON for advisories; where that cannot be reached (an offline machine, or a
registry mirror that serves only the index), every package comes back unaudited and this says
SKIPPED on one line instead of passing silently, or fails when AUDIT_REQUIRED is set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "dev.lock"
IGNORE = ROOT / "requirements" / "audit-ignore.txt"


def ignored() -> set[str]:
    """IDs listed in the ignore file (first word of each non-comment line)."""
    lines = IGNORE.read_text().splitlines() if IGNORE.exists() else []
    return {line.split()[0] for line in lines if line.strip() and not line.startswith("#")}


def verdict(report: dict[str, Any], skip: set[str], required: bool) -> tuple[list[str], int]:
    """The lines to print and the exit status for one pip-audit JSON report."""
    dependencies = report["dependencies"]
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        why = dependencies[0]["skip_reason"] if dependencies else "nothing locked"
        return [f"audit: SKIPPED, no advisory source answered ({why})"], int(required)
    lines, failing = [], 0
    for dependency in audited:
        for vuln in dependency["vulns"]:
            where = f"{dependency['name']} {dependency['version']}: {vuln['id']}"
            if {vuln["id"], *vuln.get("aliases", [])} & skip:
                lines.append(f"audit: ignored {where} (requirements/audit-ignore.txt)")
            elif vuln["fix_versions"]:
                failing += 1
                fixed = ", ".join(vuln["fix_versions"])
                lines.append(f"audit: VULNERABLE {where}, fixed in {fixed}; run `make lock`")
            else:
                lines.append(f"audit: no fix yet for {where}")
    unaudited = len(dependencies) - len(audited)
    lines.append(f"audit: {len(audited)} audited, {unaudited} not, {failing} to fix")
    return lines, int(failing > 0)


def main() -> int:
    """Run pip-audit over the lock and print its verdict; the exit status is the verdict."""
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "pip-audit"),
            "--requirement", str(LOCK),
            "--require-hashes",
            "--disable-pip",
            "--format", "json",
            "--progress-spinner", "off",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    try:
        report = json.loads(done.stdout)
    except ValueError:
        sys.stderr.write(done.stderr or done.stdout)
        return 2
    lines, status = verdict(report, ignored(), bool(os.environ.get("AUDIT_REQUIRED")))
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
