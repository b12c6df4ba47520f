"""The layer gives zip functions polars but not pandas, numpy, pyarrow or nannyml: publishing must not need them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.helpers import ROOT


def test_publish_and_record_failure_run_without_pandas_numpy_pyarrow() -> None:
    # Given an interpreter where pandas, numpy, pyarrow and nannyml cannot be imported
    script = textwrap.dedent(
        """
        import io, os, sys
        for name in ("pandas", "numpy", "pyarrow", "nannyml"):
            sys.modules[name] = None
        os.environ.update(LAKE_BUCKET="b", STATE_TABLE="t")
        from datetime import UTC, datetime
        import polars as pl
        from tests.helpers import load_handler
        load_handler("publish")
        load_handler("record_failure")
        import modelwatch.publishing.alarms
        from modelwatch.monitors.results import read_results
        frame = pl.DataFrame({"chunk_start": [datetime(2026, 3, 2, tzinfo=UTC)], "metric": ["f1"],
                              "kind": ["estimated"], "value": [0.9], "alert": [True]})
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        rows = read_results(buffer.getvalue())
        assert rows[0].value == 0.9 and rows[0].alert and rows[0].chunk_start.tzinfo is not None
        print("ok")
        """
    )
    # When the handlers are imported and a results file is read
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)

    # Then it works
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
