"""Known vulnerabilities in the pinned requirements: fails on one in what we ship, reports what it could not audit.

The input is the lock files alone (exact pins, no resolution), so the same locks give the same verdict for the same
vulnerability data. pip-audit asks PyPI's JSON API for each `name/version`; where that per-version endpoint is
unavailable (it answers 404 on this project's build network), the project endpoint still carries PyPI's
vulnerability data for the latest release, so a pin equal to the latest release is audited from there.

Verdict:
- a known vulnerability in a pin of a **shipped** file (the Lambda layer, the Estimate image) fails the check;
- a known vulnerability in a dev- or tools-only pin is reported as a warning (it never reaches Lambda);
- a pin that could not be audited either way is reported with the reason (and, where the pin is held back on
  purpose, why) without failing: a registry publishing a newer release is not a defect of our code.
Vulnerabilities accepted after review go in IGNORED_VULNS, each with a comment saying why.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks._common import Pin, read_pins

PYPI = "https://pypi.org/pypi"
# Vulnerability ids accepted after review: {id: why it does not apply or cannot be fixed}. Empty: none accepted.
IGNORED_VULNS: dict[str, str] = {}
# Pins deliberately below the latest release (normalised name: reason), printed beside "not audited".
HELD_BACK = {
    "pandas": "nannyml 0.13.1 breaks on pandas 3 (DLE on string columns): pandas>=2.2,<3",
    "lightgbm": "nannyml 0.13.1 needs lightgbm<4.6",
    "plotly": "nannyml 0.13.1's reports need plotly<6",
    "numpy": "numeric stack held together with pandas 2.3 for nannyml 0.13.1 (dev.lock is what the tests run)",
    "scipy": "numeric stack held together with pandas 2.3 for nannyml 0.13.1",
    "contourpy": "numeric stack held together with pandas 2.3 for nannyml 0.13.1 (matplotlib dependency)",
    "xgboost-cpu": "numeric stack held together with pandas 2.3 for nannyml 0.13.1 (FLAML's AutoML import)",
    "python-dateutil": "held with pandas 2.3 (its 4.x major is unreviewed here)",
}

PipAudit = Callable[[list[Path]], dict[str, Any]]
ProjectLookup = Callable[[str], dict[str, Any] | None]


@dataclass
class Verdict:
    """What the audit found, per pin."""

    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    audited: int = 0
    total: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def lines(self) -> list[tuple[str, bool]]:
        """(line, to_stderr) in a stable order."""
        out = [(f"audit: not audited: {line}", False) for line in sorted(self.unaudited)]
        out += [(f"audit: warning (not shipped): {line}", True) for line in sorted(self.warnings)]
        out += [(f"audit: FAIL (shipped): {line}", True) for line in sorted(self.failures)]
        status = "FAILED" if self.failures else "OK"
        out.append(
            (
                f"audit: {status}: {self.audited} of {self.total} pins audited; {len(self.failures)} known "
                f"vulnerabilities in shipped pins, {len(self.warnings)} in dev-only pins, "
                f"{len(self.unaudited)} pins not audited",
                False,
            )
        )
        return out


def _get_json(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - fixed https PyPI URL
            data: dict[str, Any] = json.load(response)
            return data
    except (OSError, ValueError):
        return None


def pypi_project(name: str) -> dict[str, Any] | None:
    """PyPI's project JSON (latest release and its vulnerabilities), or None when unreachable."""
    return _get_json(f"{PYPI}/{name}/json")


def run_pip_audit(pip_audit_exe: str) -> PipAudit:
    """A pip-audit runner over complete locks (no resolution) returning its JSON report."""

    def run(files: list[Path]) -> dict[str, Any]:
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

    return run


def _project_status(version: str, project: dict[str, Any] | None) -> tuple[list[str], str | None]:
    """(vulnerabilities, None) when the pin is the latest release; ([], why not audited) otherwise."""
    if project is None:
        return [], "PyPI unreachable"
    latest = project["info"]["version"]
    if latest != version:
        return [], f"below latest {latest}; PyPI's per-version data is unavailable here"
    vulns = [
        f"{v['id']} (fixed in {', '.join(v.get('fixed_in') or []) or 'no release'})"
        for v in project.get("vulnerabilities") or []
        if v["id"] not in IGNORED_VULNS and not set(v.get("aliases") or []) & set(IGNORED_VULNS)
    ]
    return vulns, None


def _findings(report: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """pip-audit's findings by (normalised name, version); the pins it skipped are absent."""
    found = {}
    for dep in report.get("dependencies", []):
        if "skip_reason" not in dep:
            found[(Pin(dep["name"], dep["version"]).key, dep["version"])] = [
                f"{v['id']} (fixed in {', '.join(v.get('fix_versions') or []) or 'no release'})"
                for v in dep.get("vulns", [])
            ]
    return found


def audit(
    shipped: list[Path], dev: list[Path], pip_audit: PipAudit, project_lookup: ProjectLookup = pypi_project
) -> Verdict:
    """Audit every pin of the shipped and dev files; shipped vulnerabilities fail, the rest is reported."""
    shipped_keys = {(pin.key, pin.version) for path in shipped for pin in read_pins(path)}
    pins = shipped_keys | {(pin.key, pin.version) for path in dev for pin in read_pins(path)}
    found: dict[tuple[str, str], list[str]] = {}
    # One pip-audit per file: dev.lock and tools.lock may pin the same package at different versions. They run side
    # by side (each mostly waits on PyPI); their findings are merged in the files' order.
    paths = [*shipped, *dev]
    with ThreadPoolExecutor(max_workers=max(len(paths), 1)) as pool:
        for report in pool.map(lambda path: pip_audit([path]), paths):
            found.update(_findings(report))
    fallback = sorted(pins - found.keys())
    # One lookup per project (two locks may pin it at two versions), 16 at a time: where pip-audit's per-version
    # endpoint is unavailable that is every pin (about 200 projects), each a round trip to PyPI.
    names = sorted({name for name, _ in fallback})
    with ThreadPoolExecutor(max_workers=16) as pool:
        by_name = dict(zip(names, pool.map(project_lookup, names), strict=True))
    projects = {key: by_name[key[0]] for key in fallback}
    verdict = Verdict(total=len(pins))
    for key in sorted(pins):
        name, version = key
        if key in found:
            vulns = found[key]
        else:
            vulns, reason = _project_status(version, projects[key])
            if reason is not None:
                held = f" (held back: {HELD_BACK[name]})" if name in HELD_BACK else ""
                verdict.unaudited.append(f"{name}=={version}: {reason}{held}")
                continue
        verdict.audited += 1
        target = verdict.failures if key in shipped_keys else verdict.warnings
        target += [f"{name}=={version}: {vuln}" for vuln in vulns]
    return verdict


def main(argv: list[str] | None = None) -> int:
    """Audit; exit 1 only on a known vulnerability in a shipped pin."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-audit", default="pip-audit")
    parser.add_argument("--shipped", nargs="+", type=Path, required=True, help="requirements shipped to Lambda")
    parser.add_argument("--dev", nargs="*", type=Path, default=[], help="dev and tools locks (reported only)")
    args = parser.parse_args(argv)
    verdict = audit(
        [path.resolve() for path in args.shipped], [path.resolve() for path in args.dev], run_pip_audit(args.pip_audit)
    )
    for line, to_stderr in verdict.lines():
        print(line, file=sys.stderr if to_stderr else sys.stdout)
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main())
