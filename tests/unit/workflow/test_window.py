"""Run windows: which chunks a run covers, the input version, and the deterministic execution name."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelwatch.chunks import hour_of
from modelwatch.workflow.window import MAX_EXECUTION_NAME, execution_name, plan_window
from tests.unit.workflow.helpers import T0, hours, model_config

NAME_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")


def test_period_window_ends_at_the_last_complete_chunk() -> None:
    # Given 5 hours of captures and a clock 10 minutes past the fifth hour's end (lateness 15m)
    counters = hours(5)
    now = T0 + timedelta(hours=5, minutes=10)
    # When the run is planned
    window = plan_window(model_config(), counters, now)
    # Then it covers the first four chunks: the fifth ends at 05:00 and is complete only from 05:15
    assert window.window_start == T0
    assert window.window_end == T0 + timedelta(hours=4)
    assert window.last_chunk_end == window.window_end
    assert window.sealed_chunks == 4
    assert window.rows == 4 * 500


def test_lateness_allowance_completes_the_chunk() -> None:
    window = plan_window(model_config(), hours(5), T0 + timedelta(hours=5, minutes=15))
    assert window.window_end == T0 + timedelta(hours=5)
    assert window.sealed_chunks == 5


def test_window_never_extends_past_the_data() -> None:
    window = plan_window(model_config(), hours(3), T0 + timedelta(days=2))
    assert window.window_end == T0 + timedelta(hours=3)


def test_input_complete_covers_every_chunk_unbounded() -> None:
    # Given `modelwatch run`: the end of the input completes the last chunk, the clock does not matter
    window = plan_window(model_config(), hours(5), T0, input_complete=True, lookback=None)
    assert window.window_end is None
    assert window.last_chunk_end == T0 + timedelta(hours=5)
    assert window.sealed_chunks == 5


def test_no_complete_chunk_is_empty() -> None:
    window = plan_window(model_config(), hours(2), T0 + timedelta(minutes=30))
    assert window.is_empty
    assert plan_window(model_config(), [], T0).is_empty


def test_lookback_bounds_the_window_start() -> None:
    counters = hours(24 * 20)
    now = T0 + timedelta(days=20, minutes=30)
    window = plan_window(model_config(), counters, now, lookback=timedelta(days=14))
    assert window.window_start == T0 + timedelta(days=6)


def test_day_chunks_align_to_utc_days() -> None:
    config = model_config(chunking="{period: 1d}")
    window = plan_window(config, hours(60, start=T0 + timedelta(hours=5)), T0 + timedelta(days=3))
    assert window.window_start == T0
    assert window.window_end == T0 + timedelta(days=2)
    assert window.sealed_chunks == 2


def test_size_chunks_count_sealed_chunks_over_all_rows() -> None:
    config = model_config(chunking="{size: 1000}")
    window = plan_window(config, hours(5, rows=300), T0 + timedelta(hours=5))
    assert window.window_start is None and window.window_end is None
    assert window.sealed_chunks == 1  # 1500 rows: one full chunk of 1000
    assert plan_window(config, hours(5, rows=300), T0, input_complete=True).sealed_chunks == 2


def test_explicit_window_overrides_the_plan() -> None:
    window = plan_window(
        model_config(),
        hours(10),
        T0 + timedelta(days=1),
        window_start=T0 + timedelta(hours=2),
        window_end=T0 + timedelta(hours=4),
    )
    assert (window.window_start, window.window_end, window.sealed_chunks) == (
        T0 + timedelta(hours=2),
        T0 + timedelta(hours=4),
        2,
    )


def test_input_version_is_deterministic_and_tracks_data_and_labels() -> None:
    config, now = model_config(), T0 + timedelta(hours=6)
    base = hours(5)
    version = plan_window(config, base, now).input_version
    # Same counters in another order: same version
    assert plan_window(config, list(reversed(base)), now).input_version == version
    # A late file for an analysed hour changes the data watermark
    late = [*base[:2], replace(base[2], rows=520, data_version=2), *base[3:]]
    assert plan_window(config, late, now).input_version != version
    # Labels for a chunk change the label watermark
    labelled = [*base[:1], replace(base[1], labels=100, label_version=1), *base[2:]]
    labelled_version = plan_window(config, labelled, now).input_version
    assert labelled_version not in (version, plan_window(config, late, now).input_version)
    # Rows in the still-open hour do not change the version of the complete window
    open_hour = [*base, *hours(1, start=T0 + timedelta(hours=5, minutes=0))]
    assert (
        plan_window(config, open_hour, T0 + timedelta(hours=5, minutes=20)).input_version
        == plan_window(config, base, T0 + timedelta(hours=5, minutes=20)).input_version
    )


def test_execution_name_is_short_safe_and_deterministic() -> None:
    window = plan_window(model_config(), hours(5), T0 + timedelta(hours=6))
    name = window.execution_name()
    assert name == f"loans-20240301T0000-20240301T0500-{window.input_version}"
    assert name == plan_window(model_config(), hours(5), T0 + timedelta(hours=6)).execution_name()
    assert len(name) <= MAX_EXECUTION_NAME and NAME_CHARS.match(name) and ":" not in name


def test_long_model_names_are_truncated_with_a_distinguishing_hash() -> None:
    long_a, long_b = "a" * 62 + "1", "a" * 62 + "2"
    name_a = execution_name(long_a, T0, T0 + timedelta(hours=1), "0123456789ab")
    name_b = execution_name(long_b, T0, T0 + timedelta(hours=1), "0123456789ab")
    assert len(name_a) == MAX_EXECUTION_NAME and len(name_b) == MAX_EXECUTION_NAME
    assert name_a != name_b
    assert name_a.endswith("-20240301T0000-20240301T0100-0123456789ab")


@given(
    model=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,62}", fullmatch=True),
    hours_from_t0=st.integers(min_value=0, max_value=10**6),
    version=st.text(min_size=0, max_size=30),
    open_end=st.booleans(),
    attempt=st.integers(min_value=0, max_value=9),
)
def test_execution_names_are_always_valid(
    model: str, hours_from_t0: int, version: str, open_end: bool, attempt: int
) -> None:
    start = T0 + timedelta(hours=hours_from_t0)
    end = None if open_end else start + timedelta(hours=1)
    name = execution_name(model, start, end, version, attempt)
    assert 1 <= len(name) <= MAX_EXECUTION_NAME
    assert NAME_CHARS.match(name)
    if attempt:
        assert name != execution_name(model, start, end, version) and name.endswith(f"-r{attempt}")


@pytest.mark.parametrize(
    "value", ["2024-03-01T05", "hour#2024-03-01T05", "2024-03-01T05:00:00Z", T0 + timedelta(hours=5)]
)
def test_hour_of_accepts_counter_hours(value: object) -> None:
    assert hour_of(value) == T0 + timedelta(hours=5)


def test_a_variant_unit_never_shares_a_model_s_execution_name() -> None:
    # A unit `m.a` (model m watching variant a) and a model named `m_a` sanitise alike: a hash tells them apart.
    unit = execution_name("m.a", T0, T0 + timedelta(hours=1), "0123456789ab")
    model = execution_name("m_a", T0, T0 + timedelta(hours=1), "0123456789ab")
    assert unit != model and model.startswith("m_a-") and unit.startswith("m_a_")
    assert len(unit) <= 80 and all(c.isalnum() or c in "-_" for c in unit)
