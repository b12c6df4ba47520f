"""A failed ingest record's error reaches neither the log nor Lambda's "All records failed" error with a value."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from modelwatch.ingest.context import IngestBatchProcessor
from modelwatch.observability import metrics

EVENT = json.loads((Path(__file__).parents[3] / "events" / "sqs_capture_object_created.json").read_text())
SECRET = "alice-4711"


def test_a_library_error_on_every_record_fails_the_batch_without_the_value(caplog: pytest.LogCaptureFixture) -> None:
    # Given a record handler failing inside a parser that quotes the data
    def record_handler(record: object) -> None:
        raise ValueError(f"could not convert string to float: {SECRET}")

    # When the whole batch fails (Lambda then logs the raised error: Powertools quotes each record's error in it)
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(BatchProcessingError) as failed:
            processor = IngestBatchProcessor("capture")
            process_partial_response(event=EVENT, record_handler=record_handler, processor=processor)
    finally:
        metrics.clear_metrics()  # the IngestErrors count it added: Powertools' metric set is shared by the process
    # Then neither that error nor the log holds the value; both still name the error type
    assert "alice" not in str(failed.value) and "ValueError" in str(failed.value)
    assert "alice" not in caplog.text and "ValueError" in caplog.text
