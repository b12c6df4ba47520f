"""The report's tables for people (#20): numbers rounded, times to the minute, plain words, drift only in alert."""

from __future__ import annotations

import pandas as pd

from modelwatch.analysis.assemble import RunOutcome, report_facts
from modelwatch.analysis.report import relative_to_report, table_html


def test_alert_tables_round_numbers_and_times() -> None:
    rows = [{"metric": "f1", "kind": "estimated", "chunk_start": "2026-03-02T03:00:00Z", "value": 0.912345678901234}]
    page = table_html(rows, [("metric", "metric"), ("kind", "value from"), ("chunk_start", "start"), ("value", "v")])
    assert "0.912345" not in page and "<td class='num'>0.912</td>" in page
    assert "<td>2026-03-02 03:00</td>" in page and "estimate (no labels needed)" in page


def test_facts_are_plain_words_and_list_drifting_features_only_when_some_alerted() -> None:
    outcome = RunOutcome("m", "r", "binary", None, None, chunks_analysed=6, chunks_reused=5, estimator_cache="hit")
    alerts = pd.DataFrame({"kind": ["estimated"]})
    facts = report_facts(outcome, alerts)
    assert not any("drift" in k for k in facts)
    assert facts["of which unchanged since an earlier run (results taken from it)"] == 5
    assert facts["performance estimator"].startswith("reused from an earlier run")
    outcome.top_drifting_features = ["income", "age"]
    assert report_facts(outcome, alerts)["features in drift alert (most drifting first)"] == "income, age"


def test_the_shared_plotly_is_referenced_from_the_report_folder() -> None:
    assert relative_to_report("m", "r1", "reports/plotly-5.24.1.min.js") == "../../plotly-5.24.1.min.js"


def test_counts_stay_whole_numbers() -> None:
    page = table_html([{"rows": 12500, "value": 3.0}], [("rows", "rows"), ("value", "value")])
    assert "<td class='num'>12,500</td>" in page and "<td class='num'>3.00</td>" in page


def test_an_alert_row_never_shows_its_value_equal_to_the_threshold_it_crossed() -> None:
    # Given specificity 0.94062 below its lower threshold 0.94104 (both 0.941 at three decimals)
    rows = [{"metric": "specificity", "value": 0.94062, "lower_threshold": 0.94104, "upper_threshold": 0.978}]
    columns = [("metric", "metric"), ("value", "v"), ("lower_threshold", "lo"), ("upper_threshold", "hi")]
    page = table_html(rows, columns)
    # Then the row shows them with enough decimals to tell them apart, all alike
    assert "<td class='num'>0.9406</td><td class='num'>0.9410</td><td class='num'>0.9780</td>" in page


def test_times_handed_over_as_datetimes_read_like_the_text_ones() -> None:
    # who is hurt's rows carry the chunk start as a datetime, the alerts table as ISO text: both read the same
    start = pd.Timestamp("2026-01-05 06:00", tz="UTC").to_pydatetime()
    page = table_html([{"a": start, "b": "2026-01-05T06:00:00Z"}], [("a", "a"), ("b", "b")])
    assert page.count("2026-01-05 06:00</td>") == 2 and "+00:00" not in page
