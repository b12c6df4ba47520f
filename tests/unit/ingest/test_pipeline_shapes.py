"""The decode-to-lake pipeline on SageMaker's other shapes: JSON Lines captures and multi-row JSON labels line up by
(inference id, row in request), as CSV captures and labels do."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

from modelwatch.ingest.pipeline import captured_requests, decode_capture_to_lake, decode_ground_truth_to_lake
from modelwatch.lake.reader import read_ground_truth
from modelwatch.lake.store import LocalStore
from tests.unit.capture.conftest import capture_bytes, make_config

WHEN = datetime(2024, 3, 2, 9, tzinfo=UTC)
CONFIG = make_config(
    output={"format": "json", "probabilities": "$.score", "prediction": "$.predicted_label"},
    ground_truth={"format": "json", "label": "$.instances[*].label"},
)


def test_multi_row_json_labels_line_up_with_json_lines_requests(tmp_path):
    # Given two JSON Lines captures of two rows each in the lake (10:40 and 10:41 on March 1st)
    store = LocalStore(tmp_path)
    captured = decode_capture_to_lake(
        io.BytesIO(capture_bytes("binary_jsonlines.jsonl")), CONFIG, "c", store, "c", WHEN
    )
    assert (captured.rows, captured.quarantined) == (4, 0)
    # When their JSON labels, one per request row, are ingested the next day
    requests = captured_requests(store, CONFIG.name, WHEN, WHEN, timedelta(days=14))
    labels = decode_ground_truth_to_lake(
        io.BytesIO(capture_bytes("ground_truth_json_multirow.jsonl")),
        CONFIG,
        "g",
        store,
        "g",
        WHEN,
        WHEN,
        WHEN,
        captures=requests.frame,
    )
    # Then every label belongs to its row and counts on its inference hour
    assert labels.quarantined == 0
    assert labels.rows_per_hour == {datetime(2024, 3, 1, 10, tzinfo=UTC): 4}
    stored = read_ground_truth(store, CONFIG.name).sort("inference_id", "row_in_request")
    assert stored.select("row_in_request", "y_true").rows() == [(0, 1), (1, 0), (0, 0), (1, 0)]


def test_a_json_label_record_with_a_label_too_many_is_quarantined(tmp_path):
    store = LocalStore(tmp_path)
    decode_capture_to_lake(io.BytesIO(capture_bytes("binary_jsonlines.jsonl")), CONFIG, "c", store, "c", WHEN)
    record = json.loads(capture_bytes("ground_truth_json_multirow.jsonl").split(b"\n")[0])
    record["groundTruthData"]["data"] = json.dumps({"instances": [{"label": 1}, {"label": 0}, {"label": 1}]})
    body = json.dumps(record).encode()
    requests = captured_requests(store, CONFIG.name, WHEN, WHEN, timedelta(days=14))
    labels = decode_ground_truth_to_lake(
        io.BytesIO(body),
        CONFIG,
        "g",
        store,
        "g",
        WHEN,
        WHEN,
        WHEN,
        captures=requests.frame,
        reopen=lambda: io.BytesIO(body),
    )
    assert (labels.rows, labels.quarantined) == (0, 1)
