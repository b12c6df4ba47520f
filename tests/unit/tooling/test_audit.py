"""The supply-chain audit: fails on a known vulnerability in what ships, reports what it could not audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checks import audit

VULN = {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-1"], "fixed_in": ["2.0"]}


def _locks(tmp_path: Path) -> tuple[Path, Path]:
    shipped = tmp_path / "layer.txt"
    shipped.write_text("# shipped\nfresh==1.0\nstale==1.0\nbad==1.0\n")
    dev = tmp_path / "dev.lock"
    dev.write_text("fresh==1.0\ndevbad==3.0\ndevstale==0.1\n")
    return shipped, dev


def _pip_audit(vulnerable: dict[str, str]) -> audit.PipAudit:
    """pip-audit as on this network: every per-version lookup fails, so every pin is skipped."""

    def run(files: list[Path]) -> dict[str, Any]:
        deps = []
        for path in files:
            for pin in audit.read_pins(path):
                if pin.key in vulnerable:
                    deps.append({"name": pin.name, "version": pin.version, "vulns": [{"id": vulnerable[pin.key]}]})
                else:
                    deps.append({"name": pin.name, "skip_reason": "404"})
        return {"dependencies": deps}

    return run


def _pypi(latest: dict[str, tuple[str, list[dict[str, Any]]]]) -> audit.ProjectLookup:
    def lookup(name: str) -> dict[str, Any] | None:
        if name not in latest:
            return None
        version, vulns = latest[name]
        return {"info": {"version": version}, "vulnerabilities": vulns}

    return lookup


def test_a_newer_release_elsewhere_is_reported_not_failed(tmp_path: Path) -> None:
    # Given pins below the registry's latest release, which this network cannot audit
    shipped, dev = _locks(tmp_path)
    pypi = _pypi({"fresh": ("1.0", []), "stale": ("1.1", []), "bad": ("1.0", []), "devbad": ("3.0", [])})
    # When the audit runs
    verdict = audit.audit([shipped], [dev], _pip_audit({}), pypi)
    # Then it passes, naming each unaudited pin with the reason
    assert verdict.exit_code == 0
    assert verdict.failures == [] and verdict.warnings == []
    assert verdict.unaudited == [
        "devstale==0.1: PyPI unreachable",
        "stale==1.0: below latest 1.1; PyPI's per-version data is unavailable here",
    ]
    assert (verdict.audited, verdict.total) == (3, 5)


def test_a_known_vulnerability_in_a_shipped_pin_fails(tmp_path: Path) -> None:
    shipped, dev = _locks(tmp_path)
    pypi = _pypi({"fresh": ("1.0", []), "stale": ("1.0", []), "bad": ("1.0", [VULN]), "devbad": ("3.0", [])})
    verdict = audit.audit([shipped], [dev], _pip_audit({}), pypi)
    assert verdict.exit_code == 1
    assert verdict.failures == ["bad==1.0: PYSEC-2099-1 (fixed in 2.0)"]


def test_pip_audit_findings_count_and_dev_only_ones_warn(tmp_path: Path) -> None:
    # Given pip-audit itself found a vulnerability in a dev-only pin and in a shipped one
    shipped, dev = _locks(tmp_path)
    pypi = _pypi({"fresh": ("1.0", []), "stale": ("1.0", []), "devstale": ("0.1", [])})
    verdict = audit.audit([shipped], [dev], _pip_audit({"devbad": "GHSA-dev", "bad": "GHSA-ship"}), pypi)
    # Then the shipped one fails the check and the dev-only one is a warning
    assert verdict.failures == ["bad==1.0: GHSA-ship (fixed in no release)"]
    assert verdict.warnings == ["devbad==3.0: GHSA-dev (fixed in no release)"]
    assert verdict.exit_code == 1


def test_ignored_vulnerabilities_are_matched_by_alias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped, dev = _locks(tmp_path)
    monkeypatch.setattr(audit, "IGNORED_VULNS", {"CVE-2099-1": "reviewed: the vulnerable API is not used"})
    pypi = _pypi(
        {n: ("1.0", [VULN]) for n in ("fresh", "stale", "bad")} | {"devbad": ("3.0", []), "devstale": ("0.1", [])}
    )
    verdict = audit.audit([shipped], [dev], _pip_audit({}), pypi)
    assert verdict.exit_code == 0 and verdict.failures == []


def test_the_verdict_prints_in_a_stable_order(tmp_path: Path) -> None:
    shipped, dev = _locks(tmp_path)
    pypi = _pypi({"fresh": ("1.0", []), "stale": ("1.1", []), "bad": ("1.0", [VULN]), "devbad": ("3.0", [])})
    first = audit.audit([shipped], [dev], _pip_audit({}), pypi).lines()
    second = audit.audit([shipped], [dev], _pip_audit({}), pypi).lines()
    assert first == second
    assert first[-1][0].startswith("audit: FAILED: 3 of 5 pins audited; 1 known vulnerabilities in shipped pins")
