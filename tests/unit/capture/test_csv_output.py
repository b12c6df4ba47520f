"""One-number CSV response bodies read straight to floats (`VectorisedDecoder._output_csv_typed`) or typed from their
text (`_output_csv_single`): exactly what the unit path and the per-record path decode, on every sample and on fuzzed
bodies (Given / When / Then)."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwatch.capture.decode import CaptureDecoder, DecodedBatch
from modelwatch.capture.records import LineBatch
from modelwatch.capture.rules import NumberRule, ValueIssue
from modelwatch.config.model import ModelConfig
from tests.unit.capture.conftest import CAPTURES, make_config, refuse

LOAN_ROW = "39811.0,40K - 60K €,0.6306,18.0,False,40%,0.2124"
CONFIGS: dict[str, ModelConfig] = {
    "probability": make_config(),
    "regression": make_config(
        name="regressor", problem_type="regression", output={"format": "csv", "columns": ["y_pred"]}
    ),
    "label": make_config(output={"format": "csv", "columns": ["y_pred"]}),  # a class: the unit path
}
CELLS = st.text(alphabet="0123456789.-+eEnaifINF_ \t\u00a0x", max_size=8)


def decode_four_ways(config: ModelConfig, data: bytes) -> tuple[DecodedBatch, ...]:
    """The vectorised path, the same without one-value bodies typed from their text (`_output_csv_single`), the
    same with every CSV body split into units (the path before the typed read), and the per-record path alone."""
    fast = CaptureDecoder(config, "s").decode_batch(LineBatch(1, data))
    typed_decoder = CaptureDecoder(config, "s")
    typed_decoder.vectorised.single_csv_output = None
    typed = typed_decoder.decode_batch(LineBatch(1, data))
    units_decoder = CaptureDecoder(config, "s")
    units_decoder.vectorised.single_csv_output = None
    units_decoder.vectorised.typed_csv_output = None
    units = units_decoder.decode_batch(LineBatch(1, data))
    slow_decoder = CaptureDecoder(config, "s")
    slow_decoder.force_slow = True
    slow = slow_decoder.decode_batch(LineBatch(1, data))
    return fast, typed, units, slow


def assert_same(*batches: DecodedBatch) -> None:
    first = batches[0]
    for other in batches[1:]:
        assert first.rows.equals(other.rows)
        assert first.quarantined == other.quarantined
        assert (first.records, first.rows_without_prediction, first.feature_issues) == (
            other.records,
            other.rows_without_prediction,
            other.feature_issues,
        )


def capture_line(inputs: int | None, body: str, number: int = 0) -> str:
    capture: dict[str, Any] = {}
    if inputs is not None:
        text = "\n".join([LOAN_ROW] * inputs) + "\n"
        capture["endpointInput"] = {"observedContentType": "text/csv", "mode": "INPUT", "data": text, "encoding": "CSV"}
    capture["endpointOutput"] = {"observedContentType": "text/csv", "mode": "OUTPUT", "data": body, "encoding": "CSV"}
    meta = {"eventId": f"e-{number}", "inferenceTime": "2024-03-01T10:00:00Z"}
    return json.dumps({"captureData": capture, "eventMetadata": meta})


@settings(max_examples=300, deadline=None)
@given(st.lists(CELLS, min_size=1, max_size=6))
def test_csv_reader_types_numbers_as_the_number_rule(cells: list[str]) -> None:
    # Given one-column CSV lines of any number-like text
    rule = NumberRule(role="probability", unit=True)
    # When polars' CSV reader parses them as floats (it fails the whole parse on what it cannot read)
    try:
        parsed = pl.read_csv("\n".join(cells).encode(), has_header=False, schema={"c0": pl.Float64}, quote_char=None)
    except Exception:
        return
    if parsed.height != len(cells):
        return  # a skipped empty line: the typed read gives up the batch
    checked = parsed.select(rule.check(pl.col("c0")).faulty.alias("faulty"))["faulty"].to_list()
    # Then each value is what the per-record half makes of the cell, or the checks find what it finds at fault
    for cell, value, faulty in zip(cells, parsed["c0"].to_list(), checked, strict=True):
        try:
            expected = rule.scalar(cell)
        except ValueIssue:
            assert faulty, (cell, value)
            continue
        assert not faulty and value == expected, (cell, value, expected)


class TestSamples:
    @pytest.mark.parametrize("name", sorted(p.name for p in CAPTURES.glob("*.jsonl") if "ground_truth" not in p.name))
    @pytest.mark.parametrize("config", sorted(CONFIGS))
    def test_every_sample_decodes_as_before(self, name: str, config: str) -> None:
        # Given a sample capture file and a config with a one-column CSV output
        data = (CAPTURES / name).read_bytes().rstrip(b"\n")
        # When decoded four ways; Then rows (damage flags included), quarantine and counts are identical
        assert_same(*decode_four_ways(CONFIGS[config], data))

    def test_clean_bodies_are_read_as_floats(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given clean records, one of them without a request
        lines = [capture_line(2, "0.25\n0.75\n", 1), capture_line(None, "0.5", 2), capture_line(1, "1", 3)]
        decoder = CaptureDecoder(CONFIGS["probability"], "s")

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the unit path was called")

        monkeypatch.setattr(decoder.vectorised, "_output_csv_units", refuse)
        # When decoded
        batch = decoder.decode_batch(LineBatch(1, "\n".join(lines).encode()))
        # Then the typed read gives every row
        assert batch.quarantined == []
        assert batch.rows["y_pred_proba"].to_list() == [0.25, 0.75, 0.5, 1.0]
        assert batch.rows["y_pred"].to_list() == [0, 1, 1, 1]

    @pytest.mark.parametrize("config", sorted(CONFIGS))
    def test_one_value_bodies_are_typed_from_their_text(self, config: str, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given records of one row each whose bodies hold one value (one with a line break after it, one without a
        # request)
        bodies = ["0\n", "1", "1"] if config == "label" else ["0.25\n", "0.5", "1"]
        lines = [capture_line(1, bodies[0], 1), capture_line(None, bodies[1], 2), capture_line(1, bodies[2], 3)]
        decoder = CaptureDecoder(CONFIGS[config], "s")
        refuse(
            monkeypatch,
            "the typed read or the unit path was called",
            (decoder.vectorised, "_output_csv_typed"),
            (decoder.vectorised, "_output_csv_units"),
        )
        # When decoded
        batch = decoder.decode_batch(LineBatch(1, "\n".join(lines).encode()))
        # Then each body's text gives its row's value
        assert batch.quarantined == []
        column = "y_pred_proba" if config == "probability" else "y_pred"
        expected = [0, 1, 1] if config == "label" else [0.25, 0.5, 1.0]
        assert batch.rows[column].to_list() == expected

    @pytest.mark.parametrize("config", ["probability", "label"])
    @pytest.mark.parametrize(
        "body",
        [
            "0.5\n0.7",
            "nan",
            "1.5",
            "0.5,0.7",
            " 0.5",
            "0.5 ",
            "1_0",
            "",
            "\n",
            "0.5\n\n",
            "\n0.5",  # an empty line first: csv.reader gives it no value (the unit path once kept it as missing)
            "0.5\n\n0.7",
            "abc",
            "inf",
            "-0.0",
            "1",
        ],
    )
    def test_doubtful_bodies_decode_as_the_per_record_path_decides(self, body: str, config: str) -> None:
        # Given a record with a doubtful body between two clean ones (one row each, and an output-only record)
        lines = [
            capture_line(1, "0.5", 1),
            capture_line(1, body, 2),
            capture_line(None, body, 3),
            capture_line(1, "0.25\n", 4),
        ]
        # When decoded four ways; Then identically
        assert_same(*decode_four_ways(CONFIGS[config], "\n".join(lines).encode()))


@st.composite
def files(draw: Any) -> tuple[str, bytes]:
    config = draw(st.sampled_from(sorted(CONFIGS)))
    lines = []
    for number in range(draw(st.integers(1, 5))):
        inputs = draw(st.sampled_from([None, 1, 2, 3]))
        rows = draw(st.integers(1, 3))
        cell = CELLS if draw(st.integers(0, 3)) == 0 else st.builds(repr, st.floats(0.0, 1.0))
        body = "\n".join(draw(cell) for _ in range(rows)) + draw(st.sampled_from(["", "\n", "\n\n", ","]))
        lines.append(capture_line(inputs, body, number))
    return config, "\n".join(lines).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_fuzzed_bodies_decode_the_same_three_ways(case: tuple[str, bytes]) -> None:
    # Given records with one-column CSV bodies of number-like text and row counts that may not match
    config, data = case
    # When decoded four ways; Then all four agree exactly
    assert_same(*decode_four_ways(CONFIGS[config], data))
