"""The decode benchmark compares like with like: on a generated file the obvious decoder and ours agree exactly."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from benchmarks.baseline_decoder import decode_file_baseline
from benchmarks.generate import benchmark_config_dict, write_capture_file
from modelwatch.capture import capture_schema, decode_capture_bytes, iter_decode_capture
from modelwatch.capture.decode import EXTRA_KEYS_DTYPE, FEATURE_ISSUES_DTYPE
from modelwatch.config.model import parse_model_config
from modelwatch.constants import COL_EXTRA_KEYS, COL_FEATURE_ISSUES


def test_generated_file_decodes_identically_to_the_baseline(tmp_path: Path) -> None:
    # Given a generated capture file (mixed CSV/BASE64, 1-5 rows per request, full-precision floats)
    config = parse_model_config(benchmark_config_dict(n_features=6), "<bench>")
    path = write_capture_file(tmp_path / "capture.jsonl", 120, n_features=6, seed=3)
    # When decoded by the obvious per-record decoder and by ours (whole and streamed in small batches)
    # (the obvious decoder has no notion of damaged values or extra keys; this clean CSV file has none)
    expected = pl.from_pandas(decode_file_baseline(path, config.feature_names)).with_columns(
        pl.lit(None, dtype=FEATURE_ISSUES_DTYPE).alias(COL_FEATURE_ISSUES),
        pl.lit(None, dtype=EXTRA_KEYS_DTYPE).alias(COL_EXTRA_KEYS),
    )
    ours = decode_capture_bytes(path.read_bytes(), config, str(path))
    with path.open("rb") as stream:
        streamed = pl.concat([b.rows for b in iter_decode_capture(stream, config, str(path), batch_lines=17)])
    # Then every value is identical, bit for bit
    schema = capture_schema(config)
    assert ours.quarantined == []
    assert ours.records == 120
    assert_frame_equal(ours.rows, expected.select(list(schema)).cast(schema), check_exact=True)  # type: ignore[arg-type]
    assert_frame_equal(streamed, ours.rows, check_exact=True)
    assert set(ours.rows["row_in_request"].to_list()) <= {0, 1, 2, 3, 4}
