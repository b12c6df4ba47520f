"""Batch transform with data capture, in the exact shapes AWS documents: the job's manifests, its `.out` records
(CSV and JSON, joined with the input, with generated inference ids) and Model Monitor's merged records
(`captureData.batchTransformOutput`), decoded by both paths alike; labels of merged records line up by id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from modelwatch.capture import decode_ground_truth_bytes
from modelwatch.capture.batch import lines_stream, parse_manifest, transform_output_lines
from modelwatch.capture.decode import CaptureDecoder, DecodedBatch
from modelwatch.capture.records import LineBatch, RecordError
from modelwatch.config.model import ModelConfig
from tests.helpers import EVENTS
from tests.unit.capture.conftest import make_config

BATCH = EVENTS / "batch_transform"
JOB_HOUR = datetime(2024, 3, 1, 10, tzinfo=UTC)
ADULT_FEATURES = [{"name": f"f{i}"} for i in range(14)]


def car_loan(**batch: Any) -> ModelConfig:
    return make_config(batch_transform={"capture": "s3://capture-bucket/datacapture/car-loan-batch", **batch})


def adult(instances: str, probabilities: str, prediction: str) -> ModelConfig:
    return make_config(
        name="adult",
        features=ADULT_FEATURES,
        input={"format": "json", "instances": instances},
        output={"format": "json", "probabilities": probabilities, "prediction": prediction},
        batch_transform={"capture": "s3://capture-bucket/datacapture/adult"},
    )


def decoded(config: ModelConfig, data: bytes, default_time: datetime | None = None) -> DecodedBatch:
    """Capture lines decoded by the vectorised path and by the per-record path alone (they must agree)."""
    fast = CaptureDecoder(config, "s", default_time=default_time).decode_batch(LineBatch(1, data))
    slow_decoder = CaptureDecoder(config, "s", default_time=default_time)
    slow_decoder.force_slow = True
    slow = slow_decoder.decode_batch(LineBatch(1, data))
    assert fast.rows.equals(slow.rows)
    assert fast.quarantined == slow.quarantined
    return fast


def converted(config: ModelConfig, name: str, job_hour: datetime | None = JOB_HOUR) -> bytes:
    """A transform output file from `events/batch_transform/` as capture lines."""
    text = (BATCH / name).read_text()
    return b"\n".join(transform_output_lines(text, config, f"s3://capture-bucket/transform-output/{name}", job_hour))


def test_the_capture_manifests_name_the_jobs_files() -> None:
    # Given the manifests a transform job writes under its DestinationS3Uri (one JSON array: a prefix, then files)
    output = parse_manifest((BATCH / "output_manifest.json").read_bytes(), "output.json")
    # Then they resolve to the objects' URIs, also when written one array per line
    assert output == ["s3://capture-bucket/transform-output/car-loan/car-loan-2024-03-01.csv.out"]
    two = b'[{"prefix":"s3://b/out"},"a.out"]\n[{"prefix":"s3://b/out/"},"b.out","c.out"]\n'
    assert parse_manifest(two, "m") == ["s3://b/out/a.out", "s3://b/out/b.out", "s3://b/out/c.out"]
    # And anything else is refused naming the manifest
    with pytest.raises(RecordError, match=r"^m: batch capture manifest has no s3:// prefix"):
        parse_manifest(b'[{"prefix": "/local"}, "a.out"]', "m")
    with pytest.raises(RecordError, match=r"^m: batch capture manifest is not \["):
        parse_manifest(b'{"prefix": "s3://b/"}', "m")


def test_csv_output_joined_with_its_input_and_inference_ids() -> None:
    # Given CSV output lines of a job with JoinSource=Input and GenerateInferenceId (input columns, the output, the
    # inference id and the job's start time; the DG's example has a blank after a comma)
    batch = decoded(car_loan(), converted(car_loan(), "car-loan-2024-03-01.csv.out"))
    # Then each line is a row: the features from the input columns, the probability, the id, the job's time
    assert batch.quarantined == []
    assert batch.rows.select("car_value", "salary_range", "driver_tenure", "y_pred_proba").rows() == [
        (39811.0, "40K - 60K", 0.2124, 0.91),
        (12679.0, "40K - 60K", 4.9278, 0.12),
        (19847.0, "20K - 40K", 1.7345, 0.57),
        (20843.0, "60K - 80K", 0.4651, 0.08),
    ]
    assert batch.rows["inference_id"].to_list()[:2] == [
        "1f1d57b1-2e6f-488c-8c30-db4e6d757861",
        "22445434-0c67-45e9-bb4d-bd1bf26561e6",
    ]
    assert set(batch.rows["inference_time"].to_list()) == {datetime(2024, 3, 1, 10, 5, 12, tzinfo=UTC)}


def test_csv_output_only_and_without_ids() -> None:
    # Given the same job's outputs without JoinSource (outputs only) and without GenerateInferenceId
    config = car_loan(join_source="none", generate_inference_id=False)
    text = "0.91\n0.12\n"
    data = b"\n".join(transform_output_lines(text, config, "s3://b/o/x.csv.out", JOB_HOUR))
    batch = decoded(config, data)
    # Then the rows hold the predictions only, ids made from the file and position, the job's hour as time
    assert batch.rows["y_pred_proba"].to_list() == [0.91, 0.12]
    assert batch.rows["car_value"].null_count() == 2
    assert batch.rows["inference_id"].str.ends_with("-1").to_list() == [True, False]
    assert set(batch.rows["inference_time"].to_list()) == {JOB_HOUR}


def test_json_lines_output_joined() -> None:
    # Given JSON Lines outputs joined with the input: the input object with SageMakerOutput and the reserved ids
    config = adult("$.features", "$.score", "$.predicted_label")
    batch = decoded(config, converted(config, "adult-jsonlines.jsonl.out"))
    # Then each line is a row with its features, score, label and inference id
    assert batch.quarantined == []
    assert batch.rows.select("f0", "f2", "y_pred_proba", "y_pred").rows() == [
        (29.0, 178610.0, 0.047645717859268, 0),
        (49.0, 96854.0, 0.237941488623619, 0),
        (28.0, 133937.0, 0.989977359771728, 1),
    ]
    assert batch.rows["inference_id"].to_list()[-1] == "ae4ec948-edc0-4195-be9c-0b15b6ca114f"
    assert batch.rows["extra_keys"].null_count() == 3  # the reserved fields are not the request's


def test_one_json_document_is_one_multi_row_record() -> None:
    # Given a job with SplitType None: one JSON document holding the instances, SageMakerOutput and one id
    config = adult("$.instances[*].features", "$.predictions[*].score", "$.predictions[*].predicted_label")
    batch = decoded(config, converted(config, "adult-json.json.out"))
    # Then it is one record of three rows, in order, sharing the inference id
    assert batch.records == 1 and batch.quarantined == []
    assert batch.rows.select("row_in_request", "f0", "y_pred").rows() == [(0, 29.0, 0), (1, 49.0, 0), (2, 28.0, 1)]
    assert set(batch.rows["inference_id"].to_list()) == {"94bcc22a-0462-4bd1-92c9-b46a5aaec1aa"}


def test_a_record_that_cannot_be_split_is_quarantined_saying_why() -> None:
    # Given a joined CSV output with a line missing its input columns
    text = (
        BATCH / "car-loan-2024-03-01.csv.out"
    ).read_text() + "0.5,9b0e2f4a-1111-4222-8333-444455556666,2024-03-01T10:05:12Z\n"
    data = b"\n".join(transform_output_lines(text, car_loan(), "s3://b/o/x.csv.out", JOB_HOUR))
    batch = decoded(car_loan(), data)
    # Then the other lines decode and that one is quarantined with the reason
    assert batch.rows.height == 4
    assert [q.reason for q in batch.quarantined] == [
        "batch transform CSV record has 1 values before the inference id: the input's 7 (features) and at least "
        "one output value expected (batch_transform.join_source input)"
    ]


@pytest.mark.parametrize(
    ("name", "config", "label_path"),
    [
        ("merged_jsonlines.jsonl", adult("$.features", "$.score", "$.predicted_label"), "$.label"),
        (
            "merged_json.jsonl",
            adult("$.instances[*].features", "$.predictions[*].score", "$.predictions[*].predicted_label"),
            "$.instances[*].label",
        ),
        ("merged_csv.jsonl", car_loan(), None),
    ],
)
def test_model_monitors_merged_records_are_captures_and_labels(
    name: str, config: ModelConfig, label_path: str | None
) -> None:
    # Given Model Monitor's merge output for a batch transform job: captureData.batchTransformOutput (the output
    # record without the reserved fields) and groundTruthData, no inference time (its file's hour folder is used)
    data = (BATCH / name).read_bytes().rstrip(b"\n")
    batch = decoded(config, data, default_time=JOB_HOUR)

    # When the same file is read as ground truth (JSON labels at the model's path, or CSV)
    ground_truth: dict[str, Any] = {"format": "json", "label": label_path} if label_path else {}
    labelled = config.model_copy(update={"ground_truth": config.ground_truth.model_validate(ground_truth)})
    labels = decode_ground_truth_bytes(data + b"\n", labelled, "s", datetime(2024, 3, 2, tzinfo=UTC))

    # Then every record decodes, at its file's hour, and each row has its label by (inference id, row)
    assert batch.quarantined == [] and labels.quarantined == []
    assert set(batch.rows["inference_time"].to_list()) == {JOB_HOUR}
    joined = batch.rows.join(labels.rows, on=["inference_id", "row_in_request"], how="left")
    assert joined["y_true"].null_count() == 0 and joined.height == batch.rows.height > 0
    assert joined.filter(pl.col("y_pred").is_not_null()).height == joined.height


def test_the_stream_feeds_the_decoder_lazily() -> None:
    # Given lines produced one by one
    produced: list[int] = []

    def lines() -> Any:
        for n in range(3):
            produced.append(n)
            yield f"line {n}".encode()

    stream = lines_stream(lines())
    # Then reading a few bytes takes only the lines needed, and the rest follow in order
    assert stream.read(4) == b"line" and produced == [0]
    assert stream.read() == b" 0\nline 1\nline 2\n" and produced == [0, 1, 2]
