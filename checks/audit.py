"""Known vulnerabilities in the pinned requirements: pip-audit, with a fallback where its per-version lookup fails.

pip-audit asks PyPI's JSON API for each `name/version`. Where that per-version endpoint is unavailable (it answers
404 on this project's build network), the project endpoint still carries PyPI's vulnerability data for the latest
release: a pin equal to the latest release is audited from there. A pin below the latest release that cannot be
audited either way must be listed in HELD_BACK with the reason it is held back; anything else fails the check, as
does any known vulnerability that is not in IGNORED_VULNS (each with a comment saying why).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from checks._common import read_pins

PYPI = "https://pypi.org/pypi"
# Vulnerability ids accepted after review: {id: why it does not apply or cannot be fixed}. Empty: none accepted.
IGNORED_VULNS: dict[str, str] = {}
# Pins deliberately below the latest release (normalised name: reason). Only used when pip-audit cannot audit them.
HELD_BACK = {
    "pandas": "nannyml 0.13.1 breaks on pandas 3 (DLE on string columns): pandas>=2.2,<3",
    "lightgbm": "nannyml 0.13.1 needs lightgbm<4.6",
    "plotly": "nannyml 0.13.1's reports need plotly<6",
    "numpy": "numeric stack held together with pandas 2.3 for nannyml 0.13.1 (dev.lock is what the tests run)",
    "scipy": "numeric stack held together with pandas 2.3 for nannyml 0.13.1",
    "contourpy": "numeric stack held together with pandas 2.3 for nannyml 0.13.1 (matplotlib dependency)",
    "xgboost-cpu": "numeric stack held together with pandas 2.3 for nannyml 0.13.1 (FLAML's AutoML import)",
    "python-dateutil": "held with pandas 2.3 (its 4.x major is unreviewed here)",
    "networkx": "dev-only (sympy/scikit-learn tooling), not shipped to Lambda",
    "mpmath": "dev-only (sympy dependency), not shipped to Lambda",
    "pyfiglet": "dev-only (moto dependency for tests), not shipped to Lambda",
}


def _get_json(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - fixed https PyPI URL
            data: dict[str, Any] = json.load(response)
            return data
    except OSError:
        return None


def pip_audit(pip_audit_exe: str, files: list[Path]) -> dict[str, Any]:
    """Run pip-audit on the pinned files (no resolution: they are complete locks); its JSON report."""
    command = [pip_audit_exe, "--progress-spinner", "off", "--no-deps", "--disable-pip", "--format", "json"]
    for vuln_id in IGNORED_VULNS:
        command += ["--ignore-vuln", vuln_id]
    for path in files:
        command += ["--requirement", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"pip-audit failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}") from exc
    return report


def fallback(name: str, version: str) -> tuple[list[str], str]:
    """(vulnerabilities, status) for one pin from PyPI's project endpoint."""
    data = _get_json(f"{PYPI}/{name}/json")
    if data is None:
        return [], "unreachable"
    if data["info"]["version"] != version:
        return [], f"below latest {data['info']['version']}"
    vulns = [
        f"{v['id']} (fixed in {', '.join(v.get('fixed_in') or []) or 'no release'})"
        for v in data.get("vulnerabilities", [])
        if v["id"] not in IGNORED_VULNS and not set(v.get("aliases") or []) & set(IGNORED_VULNS)
    ]
    return vulns, "latest"


def main(argv: list[str] | None = None) -> int:
    """Audit; exit 1 on a known vulnerability or a pin that could not be audited and is not held back on purpose."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-audit", default="pip-audit")
    parser.add_argument("requirements", nargs="+", type=Path)
    args = parser.parse_args(argv)
    files = [path.resolve() for path in args.requirements]
    pins = {pin.key: pin.version for path in files for pin in read_pins(path)}
    report = pip_audit(args.pip_audit, files)
    problems, audited, skipped = [], 0, []
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            skipped.append(dep["name"])
            continue
        audited += 1
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
            problems.append(f"{dep['name']}=={dep['version']}: {vuln['id']} (fixed in {fixes})")
    held = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda name: (name, fallback(name, pins[name])), skipped)
        for name, (vulns, status) in results:
            if status == "latest":
                audited += 1
                problems += [f"{name}=={pins[name]}: {v}" for v in vulns]
            elif name in HELD_BACK:
                held.append(f"{name}=={pins[name]} ({status}: {HELD_BACK[name]})")
            else:
                problems.append(f"{name}=={pins[name]}: could not be audited ({status}); upgrade it or hold it back")
    for line in held:
        print(f"audit: not audited here, held back on purpose: {line}")
    for problem in problems:
        print(f"audit: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"audit: OK: {audited} of {len(pins)} pins audited, no known vulnerabilities ({len(held)} held back)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
