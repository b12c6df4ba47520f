"""The run's verdict (headline) from its model's incidents, and the model and fleet index pages (#20)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelwatch.errors import LakeError
from modelwatch.lake.layout import fleet_index_key, fleet_latest_key, model_index_key, report_key
from modelwatch.lake.reports import HEADLINE_END, HEADLINE_START, PENDING_HEADLINE, standalone_report, with_headline
from modelwatch.lake.store import LocalStore
from modelwatch.publishing.incidents import CLOSED, DEGRADATION, IMPROVEMENT, OPEN
from modelwatch.publishing.pages import (
    DEGRADED,
    IMPROVED,
    NO_DATA,
    OK,
    fleet_index_html,
    forget_in_fleet,
    headline_html,
    model_index_html,
    read_runs,
    runs_key,
    update_fleet,
    verdict_from_incidents,
    write_pages,
)

NOW = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)


def _incident(kind: str, status: str, since: str, metrics: dict[str, tuple[bool, str | None]]) -> dict:
    return {
        "kind": kind,
        "status": status,
        "since": since,
        "metrics": {label: {"in_alert": on, "side": side, "since": since} for label, (on, side) in metrics.items()},
    }


def test_open_degradation_is_the_headline_with_since_and_direction() -> None:
    # Given an open degradation incident: accuracy and f1 below their bands since 03:00, mae above (still), and one
    # metric that joined then recovered
    documents = {
        DEGRADATION: _incident(
            DEGRADATION,
            OPEN,
            "2026-03-02T03:00:00Z",
            {"accuracy": (True, "lower"), "f1": (True, "lower"), "mae": (True, "upper"), "roc_auc": (False, "lower")},
        )
    }
    # When the verdict is drawn
    verdict = verdict_from_incidents("loans", "r1", documents, 6, NOW)
    # Then it is DEGRADED since the incident's start, metrics grouped by the side they crossed; the recovered one left
    assert verdict.status == DEGRADED
    assert verdict.text == "DEGRADED since 03:00 UTC: accuracy, f1 below their bands; mae above its band"
    assert [m.label for m in verdict.metrics] == ["accuracy", "f1", "mae"]
    assert verdict.metric("f1") is not None and verdict.metric("f1").side == "lower"  # type: ignore[union-attr]
    assert "DEGRADED since 03:00" in headline_html(verdict) and "verdict-degraded" in headline_html(verdict)


def test_an_incident_older_than_a_day_names_its_date() -> None:
    documents = {DEGRADATION: _incident(DEGRADATION, OPEN, "2026-02-27T03:00:00Z", {"f1": (True, "lower")})}
    assert verdict_from_incidents("loans", "r1", documents, 6, NOW).text.startswith(
        "DEGRADED since 2026-02-27 03:00 UTC: f1 below its band"
    )


def test_improvement_only_is_improved_and_closed_incidents_are_ok() -> None:
    improved = {IMPROVEMENT: _incident(IMPROVEMENT, OPEN, "2026-03-02T05:00:00Z", {"mae": (True, "lower")})}
    closed = {DEGRADATION: _incident(DEGRADATION, CLOSED, "2026-03-02T03:00:00Z", {"f1": (False, "lower")})}
    verdict = verdict_from_incidents("cars", "r2", improved, 4, NOW)
    assert verdict.status == IMPROVED and verdict.text.startswith("IMPROVED since 05:00 UTC: mae below its band")
    assert verdict_from_incidents("cars", "r2", closed, 4, NOW).text == "OK: every metric within its band"
    assert verdict_from_incidents("cars", "r2", {}, 4, NOW).status == OK
    assert verdict_from_incidents("cars", "r2", {}, 0, NOW).status == NO_DATA


def test_headline_replaces_the_pending_slot_and_can_be_replaced_again() -> None:
    page = f"<h1>modelwatch: loans</h1>{HEADLINE_START}{PENDING_HEADLINE}{HEADLINE_END}<p>rest</p>"
    first = with_headline(page, "<p>A</p>")
    assert "not decided yet" not in first and "<p>A</p>" in first and first.endswith("<p>rest</p>")
    assert with_headline(first, "<p>B</p>").count("<p>") == 2 and "<p>B</p>" in with_headline(first, "<p>B</p>")


def test_indexes_list_runs_latest_first_and_escape_what_they_read(tmp_path) -> None:
    # Given two runs of one model (the second degraded) and a model whose runs.json was tampered with
    store = LocalStore(tmp_path)
    store.put(report_key("loans", "r1"), f"<h1>x</h1>{HEADLINE_START}{PENDING_HEADLINE}{HEADLINE_END}".encode())
    store.put(runs_key("evil"), json.dumps([{"run_id": "<script>", "status": OK, "text": "<b>x</b>"}, 5]).encode())
    ok = verdict_from_incidents("loans", "r1", {}, 3, NOW)
    degraded = verdict_from_incidents(
        "loans",
        "r2",
        {DEGRADATION: _incident(DEGRADATION, OPEN, "2026-03-02T08:00:00Z", {"f1": (True, "lower")})},
        3,
        NOW,
    )
    # When their pages are written in turn
    write_pages(store, ok, lambda: ["loans", "evil"])
    write_pages(store, degraded, lambda: ["loans", "evil"])
    # Then the report has its headline, the model's index lists r2 then r1 with links, the fleet index both models
    assert "OK: every metric within its band" in store.get(report_key("loans", "r1")).decode()
    assert [r["run_id"] for r in read_runs(store, "loans")] == ["r2", "r1"]
    index = store.get(model_index_key("loans")).decode()
    assert index.index("run=r2/report.html") < index.index("run=r1/report.html")
    fleet = store.get(fleet_index_key()).decode()
    assert fleet.index("model=loans/index.html") < fleet.index("model=evil/index.html")  # degraded first
    assert "<script>" not in fleet and "&lt;b&gt;x&lt;/b&gt;" in fleet
    assert read_runs(store, "evil") == [{"run_id": "<script>", "status": OK, "text": "<b>x</b>"}]


def test_empty_indexes_say_so() -> None:
    assert "no run published yet" in model_index_html("loans", [])
    assert "no run published yet" in fleet_index_html({})


def test_a_downloaded_report_inlines_the_shared_plotly(tmp_path) -> None:
    # Given a report that loads the reports folder's shared plotly.js by relative path
    store = LocalStore(tmp_path)
    store.put("reports/plotly-5.24.1.min.js", b"/* plotly.js v5.24.1 */")
    store.put(report_key("m", "r1"), b"<head><script src='../../plotly-5.24.1.min.js'></script></head><body></body>")
    # When it is taken as one file (modelwatch report), Then the library is inlined in place of the reference
    page = standalone_report(store, report_key("m", "r1")).decode()
    assert page == "<head><script>/* plotly.js v5.24.1 */</script></head><body></body>"


class _RacedStore(LocalStore):
    """Another run's write lands between this run's read of fleet.json and its conditional write, `races` times."""

    def __init__(self, root: Any, races: int) -> None:
        super().__init__(root)
        self.races = races
        self.listings = 0

    def put_if(self, key: str, body: bytes, content_type: str, tag: str | None) -> str | None:
        if self.races:
            self.races -= 1
            found = self.get_tagged(key)
            fleet = json.loads(found[0]) if found else {}
            fleet[f"other-{self.races}"] = {"run_id": "o1", "status": DEGRADED, "text": "other run"}
            self.put(key, json.dumps(fleet).encode())
        return super().put_if(key, body, content_type, tag)


def test_the_fleet_index_keeps_every_models_run_when_runs_write_at_once(tmp_path) -> None:
    # Given a fleet whose index another model's run rewrites twice while this run updates it
    store = _RacedStore(tmp_path, races=2)
    registered_read = []

    def registered() -> list[str]:
        registered_read.append(1)
        return ["loans"]

    # When this run writes its pages
    write_pages(store, verdict_from_incidents("loans", "r1", {}, 3, NOW), registered)

    # Then its write was retried until nobody wrote in between: fleet.json and the index hold both runs' models, and
    # the registry was read once, to start fleet.json
    fleet = json.loads(store.get(fleet_latest_key()))
    assert sorted(fleet) == ["loans", "other-0", "other-1"] and fleet["loans"]["run_id"] == "r1"
    page = store.get(fleet_index_key()).decode()
    assert all(f"model={m}/index.html" in page for m in fleet)
    assert registered_read == [1]

    # When the next run of the model writes, Then the registry is not read again and the entry is replaced
    write_pages(store, verdict_from_incidents("loans", "r2", {}, 3, NOW), registered)
    assert json.loads(store.get(fleet_latest_key()))["loans"]["run_id"] == "r2" and registered_read == [1]


def test_an_unregistered_model_leaves_the_fleet_index_and_a_tampered_entry_is_left_out(tmp_path) -> None:
    # Given a fleet.json with two models and an entry that is not a run
    store = LocalStore(tmp_path)
    store.put(fleet_latest_key(), json.dumps({"a": {"run_id": "r", "status": OK, "text": "ok"}, "x": 5}).encode())
    write_pages(store, verdict_from_incidents("b", "r1", {}, 3, NOW), lambda: [])
    # When model a is unregistered
    forget_in_fleet(store, ["a"])
    # Then the index lists b only
    assert sorted(json.loads(store.get(fleet_latest_key()))) == ["b"]
    page = store.get(fleet_index_key()).decode()
    assert "model=b/index.html" in page and "model=a/" not in page


def test_writes_that_keep_losing_fail_with_a_named_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("modelwatch.publishing.pages.FLEET_RETRY_SECONDS", 0.0)
    store = _RacedStore(tmp_path, races=1_000)
    with pytest.raises(LakeError, match=r"fleet\.json: still changed by other runs"):
        update_fleet(store, lambda fleet: fleet, dict)
