"""`status`'s health of a model: what is in alert at its last run's latest chunk, since when, label coverage."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from modelwatch.lake.layout import results_key
from modelwatch.lake.store import LocalStore
from modelwatch.registry.store import Registry
from modelwatch.workflow.lifecycle import run_health

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _results(rows: list[tuple[int, str, str, str | None, bool, float | None]]) -> bytes:
    """(hour, monitor, metric, feature, alert, label coverage) rows as a results Parquet."""
    table = pl.DataFrame(
        {
            "chunk_start": [T0 + timedelta(hours=h) for h, *_ in rows],
            "monitor": [r[1] for r in rows],
            "metric": [r[2] for r in rows],
            "kind": ["estimated" if r[1] == "performance" else "univariate" for r in rows],
            "feature": [r[3] for r in rows],
            "value": [0.5] * len(rows),
            "alert": [r[4] for r in rows],
            "label_coverage": [r[5] for r in rows],
        }
    )
    body = io.BytesIO()
    table.write_parquet(body)
    return body.getvalue()


def test_health_names_what_is_in_alert_now_and_since_when_it_has_been(tmp_path: Path) -> None:
    # Given a run whose chunks were fine at 00:00, in alert at 01:00 (f1) and 02:00 (f1, drift of income)
    registry = Registry(LocalStore(tmp_path))
    rows = [
        (0, "performance", "f1", None, False, 1.0),
        (1, "performance", "f1", None, True, 0.8),
        (2, "performance", "f1", None, True, 0.25),
        (2, "drift", "jensen_shannon", "income", True, None),
        (2, "drift", "jensen_shannon", "region", False, None),
    ]
    registry.store.put(results_key("loans", "run-1"), _results(rows), "application/octet-stream")
    # When its health is read
    health = run_health(registry, "loans", "run-1")
    # Then it names the alerts of the latest chunk, since the first chunk of the unbroken alert, and its coverage
    assert health == {
        "in_alert": ["drift jensen_shannon [income]", "f1 (estimated)"],
        "alert_since": "2026-03-01T01:00:00Z",
        "latest_chunk": "2026-03-01T02:00:00Z",
        "label_coverage": 0.25,
    }


def test_a_model_without_a_run_or_results_has_an_empty_health(tmp_path: Path) -> None:
    registry = Registry(LocalStore(tmp_path))
    empty = {"in_alert": [], "alert_since": None, "latest_chunk": None, "label_coverage": None}
    assert run_health(registry, "loans", None) == empty
    assert run_health(registry, "loans", "run-missing") == empty
