"""A shortened `modelwatch demo` through the real stack: CBPE and DLE estimates, realized values, alarms fired, and
the A/B test whose challenger is broken for one region."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from modelwatch_cli.commands.demo import render
from modelwatch_cli.local.demo import DemoResult, run_demo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    output = tmp_path_factory.mktemp("demo")
    return run_demo(output, hours=3, rows_per_hour=1000, label_hours=3, label_delay_hours=1)


def test_every_model_has_estimates_and_realized_values_per_chunk(result: DemoResult) -> None:
    by_model = {m: [c for c in result.chunks if c.model == m] for m in ("car-loan", "credit-card", "car-price")}
    for model, chunks in by_model.items():
        assert len(chunks) == 3, model  # one per streamed hour, the last completed by the clock
        assert all(c.estimated is not None for c in chunks), model  # CBPE (car-loan, credit-card), DLE (car-price)
        assert sum(c.realized is not None for c in chunks) >= 2, model  # late labels arrived
    assert {c.metric for c in by_model["car-price"]} == {"mae"}
    # The analysis window straddles the synthetic datasets' shift: some chunk is in alert.
    assert any(c.estimated_alert or c.realized_alert for c in result.chunks)


def test_alarms_fired_and_reached_the_local_subscriber(result: DemoResult) -> None:
    names = {str(a["AlarmName"]) for a in result.alarms}
    assert any(name.endswith("FleetAlertAlarm") for name in names)
    assert any("-alert" in name and "FleetAlert" not in name for name in names)  # a per-model alarm
    assert result.executions.get("FAILED", 0) == 0
    assert result.executions.get("SUCCEEDED", 0) > 0
    assert result.reports and all(p.suffix == ".html" and p.stat().st_size > 0 for p in result.reports)
    assert (result.output / "notifications.jsonl").read_text().strip()


def test_the_final_table_shows_estimates_realized_and_alerts(result: DemoResult) -> None:
    console = Console(file=io.StringIO(), width=160, record=True)
    render(console, result, 1.0)
    text = console.export_text()
    assert "Estimated vs realized" in text
    assert "ALERT" in text
    assert "car-price" in text and "mae" in text
    assert "FleetAlertAlarm" in text
    assert str(Path("reports")) in text


def test_the_demo_ends_with_where_each_model_stands_folded_to_the_terminal(result: DemoResult) -> None:
    # (#20) Given the demo's end at an 80-column console (as when piped)
    console = Console(file=io.StringIO(), width=80, record=True)
    render(console, result, 1.0)
    text = console.export_text()
    # Then every model's every metric is listed with a verdict, nothing is cut, and the codes are explained
    assert [s.model for s in result.stories] == [
        "car-loan", "credit-card", "car-price", "car-loan-ab.champion", "car-loan-ab.challenger"
    ]  # fmt: skip
    assert [line.metric for line in result.stories[0].lines][:3] == ["roc_auc", "f1", "accuracy"]
    assert all(line.estimate is not None for s in result.stories for line in s.lines if line.chunk is not None)
    assert all(s.status in ("OK", "DEGRADED", "IMPROVED") for s in result.stories)
    assert "…" not in text and "Where each model stands" in text and "estimate: nannyml's estimate" in text
    assert "est+re" not in text and "credit-card" in text
    # and the reports folder has its index and one shared plotly.js, every report under 1 MB
    reports = result.output / "reports"
    assert (reports / "index.html").is_file() and len(list(reports.glob("plotly-*.min.js"))) == 1
    assert all(p.stat().st_size < 1_000_000 for p in result.reports)


def test_each_model_tells_one_story_degraded_once_and_recovered_once(result: DemoResult) -> None:
    # Given every SNS message the demo received, in order (notifications.jsonl)
    lines = [json.loads(line) for line in (result.output / "notifications.jsonl").read_text().splitlines()]
    alarm_states: dict[str, list[str]] = {}
    for line in lines:
        message = line["message"]
        if isinstance(message, dict) and "NewStateValue" in message:
            alarm_states.setdefault(str(message["AlarmName"]), []).append(str(message["NewStateValue"]))
    subjects = [str(line["subject"]) for line in lines]
    for model in ("car-loan", "credit-card", "car-price"):
        # Then the model's alarm went to ALARM exactly once and back to OK exactly once, never ALARM -> OK -> ALARM
        (name,) = [n for n in alarm_states if n.endswith(f"-{model}-alert")]
        episode = alarm_states[name][alarm_states[name].index("ALARM") :]
        assert episode == ["ALARM", "OK"], (name, alarm_states[name])
        # and people heard once that it degraded and once that it recovered, in that order
        degraded = [i for i, s in enumerate(subjects) if s.startswith(f"modelwatch: {model} degraded:")]
        recovered = [i for i, s in enumerate(subjects) if s.startswith(f"modelwatch: {model} recovered:")]
        assert len(degraded) == len(recovered) == 1, (model, subjects)
        assert degraded[0] < recovered[0]


def test_the_demo_ends_with_a_fire_drill_that_reached_every_hop(result: DemoResult) -> None:
    assert result.drill is not None
    assert result.drill.ok, result.drill.lines()
    assert {hop.name for hop in result.drill.hops} >= {"cleaned up"}


def test_the_ab_test_finds_the_challenger_worse_and_names_the_hurt_region(result: DemoResult) -> None:
    # Given the demo's A/B test: the challenger's scores blurred for region=east only
    (test,) = result.ab_tests
    assert (test.model, test.test.column, test.test.hurt) == ("car-loan-ab", "region", "east")
    # Then each variant was monitored as its own unit, with an estimate per chunk
    for unit in ("car-loan-ab.champion", "car-loan-ab.challenger"):
        chunks = [c for c in result.chunks if c.model == unit]
        assert len(chunks) == 3 and all(c.estimated is not None for c in chunks), unit
    # and where each variant stands is its whole unit's latest estimate (not one of its segments')
    for story in (s for s in result.stories if s.model.startswith("car-loan-ab.")):
        latest = [c for c in result.chunks if c.model == story.model][-1]
        (line,) = [line for line in story.lines if line.metric == "roc_auc"]
        assert (line.chunk, line.estimate) == (latest.chunk_start, latest.estimated)
    # and the comparison says the challenger is significantly worse (never better) than the champion
    assert test.worse and not any(v.significant and v.challenger_better for v in test.verdicts)
    assert all(v.difference is not None and v.difference < 0 for v in test.worse)
    # and who is hurt names region=east only, below the champion's value for the same region and chunk
    assert test.hurt and {h["segment"] for h in test.hurt} == {"region=east"}
    for hurt in test.hurt:
        assert hurt["value"] < test.champion_values[(hurt["segment"], hurt["metric"], hurt["kind"])]
    # and the challenger-worse notification was sent, and the challenger's report compares and names the region
    assert test.notification is not None
    assert test.notification.subject == "modelwatch: car-loan-ab: variant challenger worse than champion"
    assert test.report is not None
    page = test.report.read_text(encoding="utf-8")
    assert "<h2>Variants: challenger against champion</h2>" in page and "<h2>Who is hurt</h2>" in page
    assert "region=east" in page and "region=west" not in page.split("<h2>Who is hurt</h2>")[1].split("<h2>")[0]
    # and the demo's end tells it in plain words, with where to look
    console = Console(file=io.StringIO(), width=100, record=True)
    render(console, result, 1.0)
    text = " ".join(console.export_text().split())
    assert "challenger worse than champion on roc_auc" in text
    assert "region=east: roc_auc" in text and "region=north, region=west: within their bands" in text
    assert "Notification at" in text and "challenger's report (comparison and who is hurt)" in text
    assert "modelwatch compare --model car-loan-ab" in text
