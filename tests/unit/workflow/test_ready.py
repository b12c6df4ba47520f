"""When new data warrants a run: a newly completed chunk, or new labels for the window's chunks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from modelwatch.state import RunState
from modelwatch.workflow.trigger import ready_reason
from modelwatch.workflow.window import iso, plan_window
from tests.unit.workflow.helpers import T0, hours, model_config

NOW = T0 + timedelta(hours=3, minutes=30)


def test_a_newly_completed_chunk_is_ready_once() -> None:
    window = plan_window(model_config(), hours(4), NOW)
    assert ready_reason(window, RunState("loans"), size_chunks=False) == "new_chunk"
    triggered = RunState(
        "loans", last_triggered_end=iso(window.last_chunk_end), last_triggered_labels=window.label_digest
    )
    assert ready_reason(window, triggered, size_chunks=False) is None


def test_the_later_of_triggered_and_analysed_chunk_ends_counts() -> None:
    # A scheduled run analysed up to 03:00 after the last ingest trigger (up to 02:00): nothing new at 03:30
    window = plan_window(model_config(), hours(4), NOW)
    state = RunState(
        "loans",
        last_triggered_end=iso(T0 + timedelta(hours=2)),
        last_analysed_chunk=iso(T0 + timedelta(hours=3)),
        last_triggered_labels=window.label_digest,
    )
    assert ready_reason(window, state, size_chunks=False) is None


def test_new_labels_are_ready_without_a_new_chunk() -> None:
    counters = hours(4)
    window = plan_window(model_config(), counters, NOW)
    state = RunState("loans", last_triggered_end=iso(window.last_chunk_end), last_triggered_labels=window.label_digest)
    labelled = [replace(counters[0], labels=10, label_version=1), *counters[1:]]
    assert ready_reason(plan_window(model_config(), labelled, NOW), state, size_chunks=False) == "labels"


def test_size_chunks_are_ready_when_another_one_is_sealed() -> None:
    config = model_config(chunking="{size: 1000}")
    window = plan_window(config, hours(5, rows=300), NOW)  # 1500 rows: one sealed chunk
    assert ready_reason(window, RunState("loans"), size_chunks=True) == "new_chunk"
    done = RunState("loans", last_triggered_sealed=1, last_triggered_labels=window.label_digest)
    assert ready_reason(window, done, size_chunks=True) is None
    assert ready_reason(plan_window(config, hours(7, rows=300), NOW), done, size_chunks=True) == "new_chunk"


def test_an_empty_window_is_never_ready() -> None:
    assert ready_reason(plan_window(model_config(), hours(1), T0), RunState("loans"), size_chunks=False) is None
