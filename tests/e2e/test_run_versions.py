"""`modelwatch run` across a model version switch in the middle of an hour: the new version (a noisier model, with
its own reference) goes live at 01:30; no chunk mixes the versions, and each version's estimated and realized values
equal nannyml run directly on that version's rows against its own reference."""

from __future__ import annotations

import contextlib
import io
import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from modelwatch.clock import parse_iso
from modelwatch_cli.main import main
from tests.e2e.breast_cancer import START, Generated, generate, nannyml_direct
from tests.helpers import rescored

pytestmark = pytest.mark.slow

SWITCH = START + timedelta(hours=1, minutes=30)


def _captured_before(line: str) -> bool:
    when = json.loads(line)["eventMetadata"]["inferenceTime"]
    return parse_iso(when) < SWITCH


def _switched_captures(old: Path, new: Path, into: Path) -> None:
    """One capture tree: each request as the version live at its inferenceTime served it (same requests, ids and
    times in both trees: the same data scored by two models)."""
    for path in sorted(old.rglob("*.jsonl")):
        relative = path.relative_to(old)
        mine = [line for line in path.read_text().splitlines() if _captured_before(line)]
        theirs = [line for line in (new / relative).read_text().splitlines() if not _captured_before(line)]
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(f"{line}\n" for line in [*mine, *theirs]))


def _second_reference(reference: pd.DataFrame) -> pd.DataFrame:
    """Version 2's own reference: the reference as the noisier model scores it."""
    return rescored(reference, 0.3, seed=5)


@pytest.fixture(scope="module")
def switched(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Generated], Path]:
    root = tmp_path_factory.mktemp("versions")
    old = generate(root / "v1", seed=7)
    new = generate(root / "v2", seed=7, noise=0.3)  # the same requests, scored by a noisier model
    inputs = root / "input"
    _switched_captures(old.captures, new.captures, inputs / "captures")
    second = _second_reference(old.reference)
    second.to_parquet(inputs / "reference-v2.parquet", index=False)
    old.reference.to_parquet(inputs / "reference.parquet", index=False)
    config = yaml.safe_load(old.config_path.read_text())
    config["estimation"]["min_rows_per_chunk"] = 10  # the half hours around the switch are small chunks
    config["data_quality"] = {"enabled": False}  # not what this test checks (tests/e2e/test_data_quality.py is)
    config["versions"] = [
        {"name": "v1"},
        {"name": "v2", "reference": "reference-v2.parquet", "from": SWITCH.isoformat().replace("+00:00", "Z")},
    ]
    (inputs / "model.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    output = root / "out"
    with contextlib.redirect_stdout(io.StringIO()):
        main(
            [
                "run",
                "--model", str(inputs / "model.yaml"),
                "--captures", str(inputs / "captures"),
                "--ground-truth", str(old.ground_truth),
                "--output", str(output),
                "--json",
            ]
        )  # fmt: skip
    stamps = old.analysis["timestamp"]
    before = pd.Timestamp(SWITCH)
    expected = {
        "v1": Generated(old.config_path, old.captures, old.ground_truth, old.reference, old.analysis[stamps < before]),
        "v2": Generated(new.config_path, new.captures, new.ground_truth, second, new.analysis[stamps >= before]),
    }
    return expected, output


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_each_version_equals_nannyml_on_its_rows_and_reference(switched: tuple[dict[str, Generated], Path]) -> None:
    expected, output = switched
    got: dict[tuple[str, str, str, datetime], float] = {}
    windows: dict[tuple[str, datetime], str | None] = {}
    for line in _lines(output / "metrics.jsonl"):
        if line["kind"] in ("estimated", "realized"):
            start = parse_iso(line["chunk_start"])
            key = (line["version"], line["metric"], line["kind"], start.replace(minute=0))
            assert key not in got, f"published twice: {key}"
            got[key] = line["value"]
            windows[(line["version"], start)] = line["chunk_end"]
    # The switch's hour is two partial chunks: [01:00, 01:30) of v1 and [01:30, 02:00) of v2.
    assert windows[("v1", START + timedelta(hours=1))] == "2026-01-05T01:30:00Z"
    assert windows[("v2", SWITCH)] == "2026-01-05T02:00:00Z"
    assert {v for v, _ in windows} == {"v1", "v2"}
    for version, generated in expected.items():
        direct = nannyml_direct(generated)  # chunk starts are hours: nannyml's period chunks on the version's rows
        mine = {k[1:]: v for k, v in got.items() if k[0] == version}
        assert set(mine) == {k for k, v in direct.items() if v == v}, version
        for key, value in mine.items():
            assert math.isclose(value, direct[key], rel_tol=0, abs_tol=1e-9), (version, key)


def test_the_run_counts_every_row_once(switched: tuple[dict[str, Generated], Path]) -> None:
    expected, output = switched
    summary = json.loads((output / "summary.json").read_text())
    assert summary["execution_status"] == "SUCCEEDED" and summary["error"] == ""
    assert summary["rows_decoded"] == sum(len(g.analysis) for g in expected.values())
    assert summary["chunks_analysed"] == 4  # v1: 00:00 and 01:00-01:30; v2: 01:30-02:00 and 02:00
    assert summary["labels_unmatched"] == 0  # a label of either version's request is matched (joined once)


def test_the_report_marks_the_switch(switched: tuple[dict[str, Generated], Path]) -> None:
    _, output = switched
    (report,) = (output / "reports" / "model=breast-cancer").rglob("report.html")
    page = report.read_text(encoding="utf-8")
    assert "<h2>Versions</h2>" in page
    assert "/models/breast-cancer/versions/v2/reference.parquet" in page  # each version's own reference
    assert page.count('"text":"version v2"') >= 1  # the dotted switch line on the time plots
