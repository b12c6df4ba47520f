"""`modelwatch run` on a batch transform job's capture (#17): the job's output/ manifests and the .out files they
name go through the same ingest path as on AWS, and the published estimates equal nannyml run directly."""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelwatch.clock import parse_iso
from modelwatch_cli.main import main
from tests.e2e.breast_cancer import METRICS, Generated, generate, nannyml_direct

pytestmark = pytest.mark.slow


def _as_batch_job(generated: Generated, root: Path) -> Path:
    """The captured hours as a nightly transform job writes them with DataCaptureConfig: per hour an output/
    manifest naming that hour's .out file (CSV, JoinSource=Input: the features, the score, then the generated
    inference id and time); an input/ manifest beside it. Returns the job's capture folder."""
    config = yaml.safe_load(generated.config_path.read_text())
    config["batch_transform"] = {"capture": "s3://capture-bucket/datacapture/breast-cancer-nightly"}
    generated.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    features = [f["name"] for f in config["features"]]
    capture = root / "job-capture"
    analysis = generated.analysis
    for hour, rows in analysis.groupby(analysis["timestamp"].dt.floor("h")):
        lines = []
        for index, row in rows.iterrows():
            values = [repr(float(row[f])) for f in features] + [repr(float(row["y_pred_proba"]))]
            stamp = row["timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            lines.append(",".join([*values, str(uuid.UUID(int=int(index) + 1)), stamp]))
        out = capture / "transform-output" / f"scores-{hour:%H}.csv.out"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n")
        for side in ("input", "output"):
            folder = capture / side / hour.strftime("%Y/%m/%d/%H")
            folder.mkdir(parents=True, exist_ok=True)
            names = [f"scores-{hour:%H}.csv"] if side == "input" else [out.name]
            manifest = [{"prefix": "s3://transform-bucket/nightly/"}, *names]
            (folder / f"{uuid.UUID(int=hour.hour + 1000)}.json").write_text(json.dumps(manifest))
    return capture


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Generated, Path]:
    root = tmp_path_factory.mktemp("breast-cancer-batch")
    generated = generate(root / "input")
    capture = _as_batch_job(generated, root)
    output = root / "out"
    main(["run", "--model", str(generated.config_path), "--captures", str(capture), "--output", str(output)])
    return generated, output


def test_the_jobs_estimates_equal_nannyml_run_directly(finished: tuple[Generated, Path]) -> None:
    generated, output = finished
    expected = {k: v for k, v in nannyml_direct(generated).items() if k[1] == "estimated"}
    got: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    for line in (output / "metrics.jsonl").read_text().splitlines():
        point = json.loads(line)
        if point["kind"] == "estimated" and point["metric"] in METRICS:
            got[(point["metric"], point["kind"], parse_iso(point["chunk_start"]))] = point
    assert set(got) == set(expected) and len({start for _, _, start in got}) == 3
    for key, value in expected.items():
        assert math.isclose(got[key]["value"], value, rel_tol=0, abs_tol=1e-9), key


def test_the_summary_counts_the_manifests_and_names_the_input_ones_not_read(finished: tuple[Generated, Path]) -> None:
    generated, output = finished
    summary = json.loads((output / "summary.json").read_text())
    assert summary["execution_status"] == "SUCCEEDED" and summary["error"] == ""
    assert summary["capture_files"] == 3  # the output/ manifests
    assert summary["rows_decoded"] == len(generated.analysis) and summary["records_quarantined"] == 0
    reasons = {Path(item["file"]).parts[-6]: item["reason"] for item in summary["files_skipped"]}
    assert reasons == {"input": "an input/ manifest: the inputs come joined in the outputs"}


def test_a_manifest_naming_a_missing_out_file_is_named_and_the_run_stops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a job capture whose .out files were not copied beside the manifests
    generated = generate(tmp_path / "input")
    capture = _as_batch_job(generated, tmp_path)
    for out in capture.rglob("*.out"):
        out.unlink()
    # When it is run
    arguments = ["--model", str(generated.config_path), "--captures", str(capture), "--output", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit_info:
        main(["run", *arguments])
    # Then each output manifest is named with the file it lacks, and the run stops in one line
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert sum("names scores-" in line and "not found under the folder" in line for line in err) == 3
    assert err[-1].startswith("error: ") and "no capture file to read" in err[-1]
