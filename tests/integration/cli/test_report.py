"""`modelwatch report` on moto and on a lake folder: latest or given run downloaded, runs listed, clear errors."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from modelwatch.lake.layout import report_key
from modelwatch.lake.store import LocalStore
from modelwatch.registry.store import Registry
from modelwatch_cli.commands import report as report_module
from modelwatch_cli.commands.report import report
from modelwatch_cli.main import main
from tests.integration.cli.conftest import STACK, Stack, invoke
from tests.unit.ingest.helpers import churn_config


def _reports(stack: Stack) -> None:
    stack.lake.put(report_key("churn", "run-b"), b"<html>older</html>", "text/html")
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    stack.lake.put(report_key("churn", "run-a"), b"<html>latest</html>", "text/html")
    stack.lake.put("reports/model=churn/run=run-a/other.png", b"x")


def test_report_downloads_the_latest_run_by_default(stack: Stack, tmp_path: Path) -> None:
    _reports(stack)
    target = tmp_path / "out" / "r.html"
    result = invoke(report, "churn", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == b"<html>latest</html>"
    lines = result.output.strip().splitlines()
    assert lines[0] == str(target)
    assert lines[1].startswith("s3://mw-verbs-lake/reports/model=churn/run=run-a/report.html  https://s3.console")


def test_report_of_a_given_run_to_the_default_file(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reports(stack)
    monkeypatch.chdir(tmp_path)
    opened: list[str] = []
    monkeypatch.setattr(report_module.webbrowser, "open", opened.append)
    result = invoke(report, "churn", "--run", "run-b", "--open")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "churn-run-b.html").read_bytes() == b"<html>older</html>"
    assert opened == [(tmp_path / "churn-run-b.html").as_uri()]


def test_report_list_shows_runs_oldest_first_with_times(stack: Stack) -> None:
    _reports(stack)
    result = invoke(report, "churn", "--list")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["run-b", "run-a"]
    written = [datetime.fromisoformat(line.split()[0]) for line in lines]
    assert written[0] < written[1] and all(w.tzinfo is not None for w in written)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "nope"], "error: model 'nope' is not registered in mw-verbs"),
        (["report", "churn"], "error: model churn: no reports yet under s3://mw-verbs-lake/reports/model=churn/"),
        (
            ["report", "churn", "--run", "x"],
            "error: model churn: no report for run x (s3://mw-verbs-lake/reports/model=churn/run=x/report.html)",
        ),
    ],
)
def test_report_errors_are_one_clear_line(
    stack: Stack, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*args, "--stack", STACK])
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [message]


def test_report_from_a_local_lake_folder(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "lake")
    Registry(store).register(churn_config(), b"PAR1")
    store.put(report_key("churn", "r1"), b"<html>local</html>")
    target = tmp_path / "r1.html"
    result = invoke(report, "churn", "--local", str(tmp_path / "lake"), "--output", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == b"<html>local</html>"
    assert result.output.strip() == str(target)
