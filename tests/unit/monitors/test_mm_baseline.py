"""Model Monitor baselines: suggested ones read back, hand-written ones (the reference doc's examples) drive the
checks, malformed ones fail with one line naming the file and the field; sketches merge."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from modelwatch.errors import ConfigError
from modelwatch.monitors.mm_baseline import (
    KLL_BUCKETS,
    StatisticsBuilder,
    dumps,
    parse_baseline,
    suggest_baseline,
)
from modelwatch.monitors.mm_checks import ChunkIssues, evaluate_chunk
from tests.helpers import EVENTS

FEATURES = [("amount", "numeric"), ("count", "numeric"), ("colour", "categorical")]


def _reference(rows: int = 5_000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.normal(100.0, 15.0, rows),
            "count": rng.integers(0, 20, rows).astype("float64"),
            "colour": rng.choice(["red", "green", "blue"], rows).astype(object),
        }
    )
    frame.loc[:49, "amount"] = np.nan  # 1 % missing
    return frame


def _hand_written() -> tuple[bytes, bytes]:
    return (EVENTS / "baselines" / "statistics.json").read_bytes(), (
        EVENTS / "baselines" / "constraints.json"
    ).read_bytes()


class TestSuggested:
    def test_a_suggested_baseline_reads_back(self) -> None:
        # Given a baseline suggested from reference rows
        suggested = suggest_baseline(FEATURES, _reference())
        # When both files are written and read back
        again = parse_baseline(dumps(suggested.statistics), dumps(suggested.constraints))
        # Then the documents and the rules are the same
        assert again.statistics == suggested.statistics
        assert again.constraints == suggested.constraints
        assert again.features == suggested.features

    def test_it_is_in_model_monitors_shape(self) -> None:
        reference = _reference()
        statistics = suggest_baseline(FEATURES, reference).statistics
        assert statistics["dataset"] == {"item_count": len(reference)}
        amount, count, colour = statistics["features"]
        assert (amount["inferred_type"], count["inferred_type"], colour["inferred_type"]) == (
            "Fractional",
            "Integral",
            "String",
        )
        numbers = amount["numerical_statistics"]
        assert numbers["common"] == {"num_present": 4_950, "num_missing": 50}
        present = reference["amount"].dropna()
        assert math.isclose(numbers["mean"], present.mean(), rel_tol=1e-12)
        assert math.isclose(numbers["std_dev"], present.std(ddof=0), rel_tol=1e-9)
        assert (numbers["min"], numbers["max"]) == (present.min(), present.max())
        kll = numbers["distribution"]["kll"]
        assert len(kll["buckets"]) == KLL_BUCKETS
        width = (present.max() - present.min()) / KLL_BUCKETS
        assert math.isclose(kll["buckets"][0]["upper_bound"] - kll["buckets"][0]["lower_bound"], width)
        assert sum(b["count"] for b in kll["buckets"]) == 4_950
        assert kll["sketch"]["parameters"]["k"] == 2048.0
        # the sketch's levels weigh 2^level and hold every row
        weights = sum(len(level) * 2**i for i, level in enumerate(kll["sketch"]["data"]))
        assert weights == 4_950
        strings = colour["string_statistics"]
        assert strings["distinct_count"] == 3.0
        assert {b["value"] for b in strings["distribution"]["categorical"]["buckets"]} == {"red", "green", "blue"}

    def test_constraints_follow_model_monitors_suggestions(self) -> None:
        constraints = suggest_baseline(FEATURES, _reference()).constraints
        amount, count, colour = constraints["features"]
        assert amount["completeness"] < 0.99  # 99 % observed, deequ's lower bound below it
        assert count["completeness"] == 1.0
        assert count["num_constraints"] == {"is_non_negative": True}
        assert amount["num_constraints"] == {"is_non_negative": True}
        assert colour["string_constraints"] == {"domains": ["blue", "green", "red"]}
        config = constraints["monitoring_config"]
        assert config["distribution_constraints"]["comparison_method"] == "Robust"
        assert config["distribution_constraints"]["categorical_drift_method"] == "LInfinity"

    def test_statistics_update_by_merging_sketches(self) -> None:
        # Given statistics of the first half, and of the second half, of the rows
        reference = _reference()
        first = StatisticsBuilder(FEATURES).update(reference.iloc[:2_500])
        second = StatisticsBuilder(FEATURES).update(reference.iloc[2_500:])
        # When merged
        merged = first.merge(second).statistics()
        # Then they equal the statistics of every row (the sketch: same weight, same extremes)
        whole = StatisticsBuilder(FEATURES).update(reference).statistics()
        for got, want in zip(merged["features"], whole["features"], strict=True):
            if "numerical_statistics" in got:
                g, w = got["numerical_statistics"], want["numerical_statistics"]
                assert g["common"] == w["common"]
                for key in ("mean", "sum", "std_dev", "min", "max"):
                    assert math.isclose(g[key], w[key], rel_tol=1e-9), key
            else:
                assert got == want


class TestHandWritten:
    def test_the_reference_docs_examples_drive_the_checks(self) -> None:
        # Given Model Monitor's own example files (both override spellings, the archived "comparion_method")
        baseline = parse_baseline(*_hand_written())
        churn = baseline.features["Churn"]
        assert churn.comparison_threshold == 0.3  # monitoringConfigOverrides
        assert not churn.robust  # "comparion_method": "Simple"
        assert churn.datatype_check_threshold == 0.1
        # When a chunk mostly of churners and fractions, with unknown messages, is checked
        rows = 100
        values = {
            "Churn": pd.Series([1.0] * 90 + [0.5] * 5 + [0.0] * 5),
            "message": pd.Series(["preproc-not-YET-supported-for-csv-json"] * 5 + ["new"] * 95, dtype=object),
        }
        results = evaluate_chunk(baseline, values, rows, ChunkIssues())
        violations = {(r.feature, r.check): r for r in results if r.violation}
        # Then the distribution, the data type (not whole numbers) and the domain are violated, completeness is not
        assert set(violations) == {
            ("Churn", "baseline_drift_check"),
            ("message", "categorical_values_check"),
            ("message", "baseline_drift_check"),
        }
        # the sketch's CDF at 0 is (3 + 2*1 + 8) / 17 of weight; the chunk's is 5/100
        assert math.isclose(violations[("Churn", "baseline_drift_check")].value, 13 / 17 - 0.05, abs_tol=1e-12)
        description = violations[("Churn", "baseline_drift_check")].description
        assert description.startswith("Numerical distance: 0.71") and description.endswith("threshold: 0.3")
        assert violations[("message", "categorical_values_check")].description == (
            "Value: 0.05 does not meet the constraint requirement! "
        )
        data_type = next(r for r in results if r.check == "data_type_check" and r.feature == "Churn")
        assert data_type.value == 0.95 and not data_type.violation  # 0.95 >= 0.1


class TestMalformed:
    @pytest.mark.parametrize(
        ("which", "edit", "field"),
        [
            ("constraints", lambda d: d["features"][1].update(completeness="high"), "features[1].completeness"),
            ("constraints", lambda d: d["features"][0].update(inferred_type="Decimal"), "features[0].inferred_type"),
            (
                "constraints",
                lambda d: d["monitoring_config"]["distribution_constraints"].update(categorical_drift_method="KL"),
                "monitoring_config.distribution_constraints.categorical_drift_method",
            ),
            (
                "constraints",
                lambda d: d["features"][0]["monitoringConfigOverrides"].update(comparison_treshold=0.2),
                "features[0].monitoringConfigOverrides.comparison_treshold",
            ),
            ("statistics", lambda d: d["features"][0].pop("numerical_statistics"), "features[0].numerical_statistics"),
            ("statistics", lambda d: d.pop("features"), "features"),
        ],
    )
    def test_one_line_naming_the_file_and_the_field(self, which: str, edit, field: str) -> None:  # type: ignore[no-untyped-def]
        statistics, constraints = (json.loads(b) for b in _hand_written())
        edit(statistics if which == "statistics" else constraints)
        with pytest.raises(ConfigError) as raised:
            parse_baseline(json.dumps(statistics), json.dumps(constraints), "s3://b/stats.json", "s3://b/cons.json")
        message = str(raised.value)
        assert "\n" not in message
        assert message.startswith("s3://b/stats.json: " if which == "statistics" else "s3://b/cons.json: ")
        assert field in message

    def test_not_json_names_the_file(self) -> None:
        with pytest.raises(ConfigError, match=r"^statistics.json: invalid Model Monitor baseline: not JSON"):
            parse_baseline(b"{", _hand_written()[1])

    def test_a_constrained_feature_without_statistics(self) -> None:
        statistics, constraints = (json.loads(b) for b in _hand_written())
        statistics["features"].pop(1)
        with pytest.raises(ConfigError, match=r"constraints.json: .*features\[1\]\.name: 'message' has no entry"):
            parse_baseline(json.dumps(statistics), json.dumps(constraints))
