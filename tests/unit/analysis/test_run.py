"""A run's analysis (every monitor, then assembled): complete and skipped chunks, windows, size chunks, label
joining, drift stats, payload, report."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelwatch.analysis import RunRequest, run_monitor
from modelwatch.clock import to_utc
from modelwatch.config.model import Chunking
from modelwatch.lake.store import LocalStore
from modelwatch.monitors.frames import prepare_captures
from modelwatch.monitors.labels import join_labels
from modelwatch.monitors.nml import seeded_fit

from .cases import ANALYSIS_START, LATE, ROWS_PER_HOUR, Case
from .helpers import FIELDS_ESTIMATED, assert_matches, direct_estimated

START = to_utc(ANALYSIS_START.to_pydatetime())


def _run(case: Case, tmp_path, now=LATE, captures=None, labels=None, config=None, **request):
    return run_monitor(
        config or case.config,
        case.reference,
        case.captures if captures is None else captures,
        labels,
        RunRequest(case.config.name, request.pop("run_id", "r1"), **request),
        LocalStore(tmp_path),
        now,
    )


def test_incomplete_and_small_chunks_are_skipped_with_reasons(binary_case: Case, tmp_path) -> None:
    # Given hour 2 holds only 50 rows, and the clock is at 06:10 with 15 minutes lateness
    captures = binary_case.captures
    hour = (captures["inference_time"] - captures["inference_time"].min()) // pd.Timedelta(hours=1)
    captures = pd.concat([captures[hour != 2], captures[hour == 2].iloc[:50]])
    now = START + timedelta(hours=6, minutes=10)

    outcome = _run(binary_case, tmp_path, now=now, captures=captures)

    # Then hours 0, 1, 3, 4 are analysed; 2 is too small; 5 (ended 06:00, +15m) and later are incomplete
    reasons = {s["start"][11:16]: s["reason"] for s in outcome.chunks_skipped}
    assert reasons == {
        "02:00": "fewer than 100 rows",
        "05:00": "incomplete",
        "06:00": "incomplete",
        "07:00": "incomplete",
    }
    assert outcome.chunks_analysed == 4
    # and the analysed chunks' values are nannyml's for those chunks
    stored = pd.read_parquet(outcome.results_uri)
    direct = direct_estimated(binary_case)
    direct = direct[pd.to_datetime(direct[("chunk", "start_date")]).dt.hour.isin([0, 1, 3, 4])].reset_index(drop=True)
    assert_matches(stored, direct, binary_case.config.metrics, "estimated", FIELDS_ESTIMATED)


def test_input_complete_analyses_the_last_chunk(binary_case: Case, tmp_path) -> None:
    now = START + timedelta(hours=7, minutes=30)
    assert _run(binary_case, tmp_path, now=now).chunks_analysed == 7
    assert _run(binary_case, tmp_path, now=now, input_complete=True).chunks_analysed == 8


def test_window_selects_chunks_by_start(binary_case: Case, tmp_path) -> None:
    outcome = _run(
        binary_case, tmp_path, window_start=START + timedelta(hours=2), window_end=START + timedelta(hours=4)
    )
    assert [c["chunk_start"][11:16] for c in outcome.label_coverage] == ["02:00", "03:00"]


def test_size_chunks_match_nannyml_size_chunker(binary_case: Case, tmp_path) -> None:
    import nannyml as nml

    config = binary_case.config.model_copy(update={"chunking": Chunking(size=ROWS_PER_HOUR)})
    # 1,000 rows short: the last size chunk is partial, complete only at the end of the input
    captures = binary_case.captures.iloc[:-1000]
    assert _run(binary_case, tmp_path, config=config, captures=captures).chunks_analysed == 7
    outcome = _run(
        binary_case,
        tmp_path,
        config=config,
        captures=captures,
        labels=binary_case.labels,
        input_complete=True,
        run_id="r2",
    )
    assert outcome.chunks_analysed == 8
    assert [c["coverage"] for c in outcome.label_coverage] == [1.0] * 8

    estimator = nml.CBPE(
        problem_type="classification_binary",
        y_pred_proba="y_pred_proba",
        y_pred="y_pred",
        y_true="repaid",
        timestamp_column_name="timestamp",
        metrics=config.metrics,
        chunk_size=ROWS_PER_HOUR,
    )
    seeded_fit(estimator, binary_case.reference)
    direct = estimator.estimate(binary_case.direct_analysis.iloc[:-1000]).filter(period="analysis").to_df()
    stored = pd.read_parquet(outcome.results_uri)
    assert list(stored.drop_duplicates("chunk_key")["chunk_key"]) == list(direct[("chunk", "key")])
    realized_keys = stored.loc[stored["kind"] == "realized", "chunk_key"].drop_duplicates()
    assert list(realized_keys) == list(direct[("chunk", "key")])
    # size chunks have no period start; compare in chunk order
    for metric in config.metrics:
        mine = stored[(stored["metric"] == metric) & (stored["kind"] == "estimated")].sort_values("chunk_index")
        for field in FIELDS_ESTIMATED:
            np.testing.assert_allclose(
                mine[field].to_numpy(float), direct[(metric, field)].to_numpy(float), rtol=0, atol=1e-9, equal_nan=True
            )
        assert mine["alert"].tolist() == direct[(metric, "alert")].astype(bool).tolist()


def test_label_join_keeps_latest_duplicate_and_excludes_mismatched_groups(binary_case: Case) -> None:
    config = binary_case.config
    captures = binary_case.captures.iloc[:4].copy()
    # request inf-a has two rows, inf-b one, inf-c one
    captures["inference_id"] = ["inf-a", "inf-a", "inf-b", "inf-c"]
    captures["row_in_request"] = [0, 1, 0, 0]
    frame = prepare_captures(config, captures, features=[]).frame
    t = pd.Timestamp("2026-03-20", tz="UTC")
    labels = pd.DataFrame(
        {
            "inference_id": ["inf-a", "inf-a", "inf-b", "inf-b", "inf-c", "inf-c", "inf-zzz"],
            "row_in_request": [0, 1, 0, 0, 0, 1, 0],
            "y_true": [1, 0, 0, 1, 1, 1, 1],
            "label_time": [t, t, t + pd.Timedelta(hours=1), t, t, t, t],
            "source_key": ["k"] * 7,
            "source_line": [1, 2, 3, 4, 5, 6, 7],
        }
    )
    joined = join_labels(config, frame, labels)
    by_row = joined.frame.set_index(["inference_id", "row_in_request"])["y_true"]
    assert by_row[("inf-a", 0)] == 1 and by_row[("inf-a", 1)] == 0
    assert by_row[("inf-b", 0)] == 0  # the later label_time wins over the later source line
    assert np.isnan(by_row[("inf-c", 0)])  # two labels for a one-row request: excluded
    summary = joined.summary()
    assert summary["duplicates_dropped"] == 1
    assert summary["excluded_inference_ids"] == 1 and summary["excluded_inference_id_sample"] == ["inf-c"]
    assert summary["excluded_label_rows"] == 2
    assert summary["unmatched_labels"] == 1


def test_drift_and_missing_rates_per_chunk(binary_case: Case, tmp_path) -> None:
    import nannyml as nml

    outcome = _run(binary_case, tmp_path)
    # top drifting features equal nannyml's own ranking on the same chunks
    categorical = [f.name for f in binary_case.config.features if f.type == "categorical"]
    calculator = nml.UnivariateDriftCalculator(
        column_names=binary_case.config.feature_names,
        treat_as_categorical=categorical,
        timestamp_column_name="timestamp",
        chunk_period="h",
        continuous_methods=["jensen_shannon"],
        categorical_methods=["jensen_shannon"],
    ).fit(binary_case.reference)
    result = calculator.calculate(binary_case.direct_analysis).filter(period="analysis")
    ranked = nml.AlertCountRanker().rank(result)
    expected = [str(r.column_name) for r in ranked.itertuples() if r.number_of_alerts > 0][:3]
    assert outcome.top_drifting_features == expected and expected
    alerts = result.to_df().loc[:, (slice(None), "jensen_shannon", "alert")].sum(axis=1).astype(int).tolist()
    assert [d["features_in_drift_alert"] for d in outcome.drift] == alerts

    # a feature that stops arriving in hour 3 shows as missing
    feature = outcome.top_features[0]
    captures = binary_case.captures.copy()
    hour3 = captures["inference_time"].between(START + timedelta(hours=3), START + timedelta(hours=4), inclusive="left")
    captures.loc[hour3, feature] = None
    missing = _run(binary_case, tmp_path, captures=captures, run_id="r2")
    rates = [d["missing_rate"][feature] for d in missing.drift if feature in d["missing_rate"]]
    assert rates[3] == 1.0 and rates[2] == 0.0


def test_outcome_is_small_json_and_report_loads_the_shared_plotly(multiclass_case: Case, tmp_path) -> None:
    outcome = _run(multiclass_case, tmp_path, labels=multiclass_case.labels)
    payload = json.dumps(outcome.to_dict())
    assert len(payload.encode()) < 64 * 1024
    assert outcome.results_uri.endswith("results/model=credit-card/run=r1/results.parquet")
    html = Path(outcome.report_uri).read_text(encoding="utf-8")
    assert html.count("<h2>") >= len(multiclass_case.config.metrics) + 1
    assert "estimated vs realized" in html and "Drift of the top features" in html
    assert "plot unavailable" not in html
    # (#20, changed deliberately: plotly.js was embedded in every report, 4.4 MB each) the report loads the lake's one
    # shared copy by relative path, nothing from the network, and stays well under 1 MB
    assert "plotly.js v" not in html
    shared = list(tmp_path.rglob("reports/plotly-*.min.js"))
    assert len(shared) == 1 and shared[0].read_text(encoding="utf-8").count("plotly.js v") >= 1
    assert re.findall(r"<script[^>]+src='([^']+)'", html) == [f"../../{shared[0].name}"]
    assert (Path(outcome.report_uri).parent / "../.." / shared[0].name).resolve() == shared[0].resolve()
    assert not re.search(r"<link[^>]+href=", html)
    assert len(html.encode()) < 1_000_000


@pytest.mark.parametrize("bad", ["2", "maybe"])
def test_binary_labels_other_than_zero_or_one_are_left_out_and_counted(binary_case: Case, bad: str) -> None:
    # (#12: a label outside the classes used to fail the whole run, estimates included; now it is only not joined)
    # Given two captured rows, one labelled with a value that is not 0/1
    frame = prepare_captures(binary_case.config, binary_case.captures.iloc[:2], features=[]).frame
    labels = pd.DataFrame({"inference_id": frame["inference_id"], "row_in_request": 0, "y_true": [bad, "1"]})
    # When the labels are joined
    joined = join_labels(binary_case.config, frame, labels)
    # Then the bad label is counted and left out, the good one joined
    assert joined.invalid_labels == 1 and joined.summary()["invalid_labels"] == 1
    assert joined.frame["y_true"].isna().tolist() == [True, False]
    assert joined.frame["y_true"].iloc[1] == 1.0
