"""The vectorised half of JSON response bodies (`capture.json_output`): it decodes exactly what the per-record
loop it replaced decoded, and leaves every doubtful record to the per-record path (Given / When / Then)."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelwatch.capture import records
from modelwatch.capture.decode import CaptureDecoder, DecodedBatch
from modelwatch.capture.json_output import JsonOutputPlan
from modelwatch.capture.records import LineBatch
from modelwatch.capture.rules import output_rules
from modelwatch.config.model import ModelConfig
from tests.unit.capture.conftest import CAPTURES, CREDIT_CARD_CLASSES, CREDIT_CARD_FEATURES, make_config, refuse

LOAN_ROWS = [
    "39811.0,40K - 60K €,0.6306,18.0,False,40%,0.2124",
    "12679.0,40K - 60K €,0.7186,7.0,True,10%,4.9278",
    "19524.0,0 - 20K €,0.9218,19.0,True,40%,1.6313",
]
CONFIGS: dict[str, ModelConfig] = {
    "score_and_label": make_config(
        output={
            "format": "json",
            "probabilities": "$.predictions[*].score",
            "prediction": "$.predictions[*].predicted_label",
        }
    ),
    "scores_list": make_config(output={"format": "json", "probabilities": "$.scores[*]"}),
    "two_lists": make_config(output={"format": "json", "probabilities": "$.out.p[*]", "prediction": "$.out.y[*]"}),
    "regression": make_config(
        name="regressor", problem_type="regression", output={"format": "json", "prediction": "$.predictions[*]"}
    ),
    "no_wildcard": make_config(output={"format": "json", "probabilities": "$.probabilities"}),
    "jsonl": make_config(output={"format": "json", "probabilities": "$.score", "prediction": "$.predicted_label"}),
    "multiclass": make_config(
        name="credit_card",
        problem_type="multiclass_classification",
        features=CREDIT_CARD_FEATURES,
        classes=CREDIT_CARD_CLASSES,
        input={"format": "json", "instances": "$.instances"},
        output={"format": "json", "probabilities": "$.probabilities"},
    ),
}


def decode_three_ways(config: ModelConfig, data: bytes) -> tuple[DecodedBatch, DecodedBatch, DecodedBatch]:
    """The vectorised path (JSON bodies vectorised), the same with the per-record loop for JSON bodies (the path
    before `JsonOutputPlan`), and the per-record path alone. The vectorised path's result is checked against the
    same with every JSON text decoded in its own chunk (`records.json_decode_chunks`)."""
    fast = CaptureDecoder(config, "s").decode_batch(LineBatch(1, data))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(records, "JSON_DECODE_BYTES", 1)
        assert_same(fast, CaptureDecoder(config, "s").decode_batch(LineBatch(1, data)))
    loop_decoder = CaptureDecoder(config, "s")
    loop_decoder.vectorised.json_plan = None
    loop = loop_decoder.decode_batch(LineBatch(1, data))
    slow_decoder = CaptureDecoder(config, "s")
    slow_decoder.force_slow = True
    slow = slow_decoder.decode_batch(LineBatch(1, data))
    return fast, loop, slow


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


def capture_line(inputs: int | None, body: str, encoding: str = "JSON", number: int = 0) -> str:
    capture: dict[str, Any] = {}
    if inputs is not None:
        text = "\n".join(LOAN_ROWS[i % len(LOAN_ROWS)] for i in range(inputs)) + "\n"
        capture["endpointInput"] = {"observedContentType": "text/csv", "mode": "INPUT", "data": text, "encoding": "CSV"}
    capture["endpointOutput"] = {
        "observedContentType": "application/json",
        "mode": "OUTPUT",
        "data": body,
        "encoding": encoding,
    }
    meta = {"eventId": f"e-{number}", "inferenceTime": "2024-03-01T10:00:00Z"}
    return json.dumps({"captureData": capture, "eventMetadata": meta})


class TestPlan:
    def test_takes_key_paths_with_one_wildcard_of_binary_and_regression_models(self) -> None:
        # Given configs of each shape; When their plans are made; Then only key paths with one [*] are taken
        taken = {
            name: JsonOutputPlan.for_config(config, output_rules(config), {}) is not None
            for name, config in CONFIGS.items()
        }
        assert taken == {
            "score_and_label": True,
            "scores_list": True,
            "two_lists": True,
            "regression": True,
            "no_wildcard": False,
            "jsonl": False,
            "multiclass": False,
        }

    def test_reads_the_paths_as_one_document_type(self) -> None:
        config = CONFIGS["score_and_label"]
        plan = JsonOutputPlan.for_config(config, output_rules(config), {})
        assert plan is not None
        inner = pl.Struct({"score": pl.Utf8, "predicted_label": pl.Utf8})
        assert plan.dtype == pl.Struct({"predictions": pl.List(inner)})


class TestSamples:
    @pytest.mark.parametrize("name", sorted(p.name for p in CAPTURES.glob("*.jsonl") if "ground_truth" not in p.name))
    @pytest.mark.parametrize("config", sorted(CONFIGS))
    def test_every_sample_decodes_as_before(self, name: str, config: str) -> None:
        # Given a sample capture file (events/captures) and a model config with JSON outputs
        data = (CAPTURES / name).read_bytes().rstrip(b"\n")
        # When decoded with JSON bodies vectorised, with the per-record loop, and by the per-record path alone
        fast, loop, slow = decode_three_ways(CONFIGS[config], data)
        # Then rows (damage flags included), quarantine and counts are identical
        assert_same(fast, loop, slow)

    def test_clean_bodies_never_reach_the_per_record_loop(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given clean records with JSON outputs (plain and base64 CSV inputs, and an output-only record)
        config = CONFIGS["score_and_label"]
        body = json.dumps(
            {"predictions": [{"score": 0.91, "predicted_label": 1}, {"score": 0.12, "predicted_label": 0}]}
        )
        lines = [capture_line(2, body, number=1), capture_line(None, body, number=2)]
        decoder = CaptureDecoder(config, "s")
        refuse(
            monkeypatch,
            "the per-record loop was called",
            (decoder.vectorised, "_output_json_per_record"),
            (decoder.per_record, "decode"),
        )
        # When decoded
        batch = decoder.decode_batch(LineBatch(1, "\n".join(lines).encode()))
        # Then every row comes from the vectorised half, typed as the rules type them
        assert batch.quarantined == []
        assert batch.rows["y_pred_proba"].to_list() == [0.91, 0.12, 0.91, 0.12]
        assert batch.rows["y_pred"].to_list() == [1, 0, 1, 0]
        assert batch.rows["row_in_request"].to_list() == [0, 1, 0, 1]

    @pytest.mark.parametrize(
        "body",
        [
            '{"predictions": [{"score": 0.2, "predicted_label": 1, "score": 0.7}]}',  # duplicate: Python keeps the last
            '{"predictions": [{"score": 0.2, "predicted_label": 1}], '
            '"predictions": [{"score": 0.7, "predicted_label": 1}]}',
            '{"predictions": [{"score": 0.2, "predicted_label": 1, "sc\\u006fre": 0.7}]}',  # an escaped duplicate
            '{"predictions": [{"score": 0.7, "predicted_label": 1, "note": "score"}]}',  # the key's name as a value
            '{"predictions": [{"score": NaN, "predicted_label": 1}]}',  # Python reads NaN: a non-finite probability
            '{"predictions": [{"score": 1e400, "predicted_label": 1}]}',
            '{"predictions": [{"score": true, "predicted_label": 1}]}',
            '{"predictions": [{"score": null, "predicted_label": 1}]}',
            '{"predictions": [{"predicted_label": 1}]}',
            '{"predictions": [{"score": [0.3, 0.7], "predicted_label": 1}]}',  # a [p0, p1] pair: the positive class
            '{"predictions": [{"score": "0.7", "predicted_label": "1"}]}',  # numeric text
            '{"predictions": [{"score": 1.5, "predicted_label": 1}]}',  # out of range
            '{"predictions": [{"score": 0.5, "predicted_label": 2}]}',  # not a class
            '{"predictions": [{"score": 0.5, "predicted_label": 1}, {"score": 0.5, "predicted_label": 1}]}',  # 2 rows
            '{"predictions": []}',
            '{"predictions": [{"score": 0.7, "predicted_label": 1}]} trailing',
            "[0.7]",
            '{"predictions": {"score": 0.7, "predicted_label": 1}}',  # an object where the list belongs
            '{"predictions": [{"score": 1' + "0" * 400 + ', "predicted_label": 1}]}',  # an integer beyond floats
        ],
    )
    def test_doubtful_bodies_decode_as_the_per_record_path_decides(self, body: str) -> None:
        # Given a record whose JSON body is doubtful for the vectorised half, between two clean ones
        clean = json.dumps({"predictions": [{"score": 0.5, "predicted_label": 1}]})
        lines = [capture_line(1, clean, number=1), capture_line(1, body, number=2), capture_line(1, clean, number=3)]
        # When decoded three ways; Then identically
        assert_same(*decode_three_ways(CONFIGS["score_and_label"], "\n".join(lines).encode()))

    @pytest.mark.parametrize(
        "body", ['{"predictions": 0.5}', '{"predictions": "0.5"}', '{"predictions": [0.5]}', "0.5"]
    )
    def test_a_single_value_where_the_list_belongs_is_no_list(self, body: str) -> None:
        # Given a regression model reading `$.predictions[*]` and a body holding a single value there (polars would
        # read it as a list of one; the per-record path finds no list)
        lines = [capture_line(1, '{"predictions": [1.5]}', number=1), capture_line(1, body, number=2)]
        # When decoded three ways; Then identically
        assert_same(*decode_three_ways(CONFIGS["regression"], "\n".join(lines).encode()))


# ---------------------------------------------------------------------------- fuzzing the bodies
SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0.0, max_value=1.0),
    st.integers(min_value=-3, max_value=3),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.booleans(),
    st.none(),
    st.sampled_from(["0.5", " 0.25 ", "", "1_0", "nan", "inf", "yes", "0", "1", "\u0661", "\u00a00.5"]),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.sampled_from(["a", "score"]), SCALARS))
KEYS = st.sampled_from(["score", "predicted_label", "p", "y", "other", "predictions", "scores", "out"])


def _dump(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value)


@st.composite
def objects(draw: Any, keys: list[str], leaf: Any) -> str:
    """A JSON object of `keys` (each possibly left out, duplicated, or joined by another key), written by hand so
    that duplicate keys and odd spacing survive."""
    members = []
    for key in keys:
        for _ in range(draw(st.sampled_from([1, 1, 1, 1, 0, 2]))):
            members.append((key, draw(leaf)))
    if draw(st.integers(0, 5)) == 0:
        members.append((draw(KEYS), _dump(draw(VALUES))))
    space = draw(st.sampled_from(["", " ", "\n "]))
    return "{" + f",{space}".join(f'"{key}":{space}{value}' for key, value in members) + "}"


@st.composite
def bodies(draw: Any, config: str) -> str:
    """A response body near the shape `config`'s paths read (or not at all)."""
    if draw(st.integers(0, 15)) == 0:
        return _dump(draw(VALUES))
    rows = draw(st.integers(0, 3))
    value = st.builds(_dump, VALUES) if draw(st.integers(0, 3)) == 0 else st.builds(_dump, st.floats(0.0, 1.0))
    label = st.builds(_dump, st.sampled_from([0, 1, 1.0, "1", True, 2, 0.5, None]))
    if config == "score_and_label":
        element = objects(["score", "predicted_label"], st.one_of(value, label))
        items = "[" + ", ".join(draw(element) for _ in range(rows)) + "]"
        return draw(objects(["predictions"], st.just(items)))
    if config == "two_lists":
        p = "[" + ",".join(draw(value) for _ in range(rows)) + "]"
        y = "[" + ",".join(draw(label) for _ in range(rows + draw(st.sampled_from([0, 0, 0, 1])))) + "]"
        inner = draw(objects(["p", "y"], st.sampled_from([p, y])))
        return draw(objects(["out"], st.just(inner)))
    key = "scores" if config == "scores_list" else "predictions"
    items = "[" + ",".join(draw(value) for _ in range(rows)) + "]"
    return draw(objects([key], st.just(items)))


@st.composite
def files(draw: Any) -> tuple[str, bytes]:
    config = draw(st.sampled_from(["score_and_label", "scores_list", "two_lists", "regression"]))
    lines = []
    for number in range(draw(st.integers(1, 5))):
        inputs = draw(st.sampled_from([None, 1, 2, 3]))
        encoding = draw(st.sampled_from(["JSON", "JSON", "CSV", "BASE64"]))
        body = draw(bodies(config))
        if encoding == "BASE64":
            body = base64.b64encode(body.encode()).decode()
        lines.append(capture_line(inputs, body, encoding, number))
    return config, "\n".join(lines).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_fuzzed_bodies_decode_the_same_three_ways(case: tuple[str, bytes]) -> None:
    # Given records whose JSON bodies are near (or far from) the configured paths' shape
    config, data = case
    # When decoded with JSON bodies vectorised, with the per-record loop, and by the per-record path alone
    fast, loop, slow = decode_three_ways(CONFIGS[config], data)
    # Then all three agree exactly
    assert_same(fast, loop, slow)
