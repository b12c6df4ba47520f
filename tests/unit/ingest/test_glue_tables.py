"""The Glue tables in template.yaml project exactly the lake layout the writers use (ingestion; the drift and
data-quality monitors' chunk files)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import polars as pl
import pytest

from modelwatch.ingest.pipeline import decode_capture_to_lake, decode_ground_truth_to_lake
from modelwatch.lake.layout import Partition, constraint_violations_key, drift_key, model_quality_keys
from modelwatch.lake.store import LocalStore
from modelwatch.monitors.data_quality import DataQualityMonitor
from modelwatch.monitors.drift import DriftMonitor
from modelwatch.monitors.mm_model_quality import violation_entry
from modelwatch.monitors.results import conform
from modelwatch_cli.local.template import Template
from tests.helpers import ROOT
from tests.unit.ingest.helpers import capture_file, churn_config, ground_truth_file


@pytest.fixture(scope="module")
def template() -> Template:
    return Template(ROOT / "template.yaml")


@pytest.mark.parametrize(("logical_id", "area"), [("CapturesTable", "captures"), ("GroundTruthTable", "ground_truth")])
def test_partition_projection_matches_the_lake_layout(template, logical_id, area):
    table = template.resources[logical_id]["Properties"]["TableInput"]
    parameters = table["Parameters"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["model", "dt", "hour"]
    assert parameters["projection.model.type"] == "injected"
    assert (parameters["projection.dt.type"], parameters["projection.dt.format"]) == ("date", "yyyy-MM-dd")
    assert (parameters["projection.hour.type"], parameters["projection.hour.range"]) == ("integer", "0,23")
    assert parameters["projection.hour.digits"] == "2"
    location = template.resolve(parameters["storage.location.template"])
    lake = template.outputs()["LakeBucketName"]
    expected = f"s3://{lake}/" + Partition(area, "m1", "2024-03-01", "07").prefix
    assert location.replace("${model}", "m1").replace("${dt}", "2024-03-01").replace("${hour}", "07") == expected


GLUE_TYPES = {"string": pl.String, "int": pl.Int32, "bigint": pl.Int64, "double": pl.Float64, "boolean": pl.Boolean}
# The capture columns recording damaged features, as the Glue table should declare them (see README's lake section).
DAMAGE_COLUMNS = [
    {"Name": "feature_issues", "Type": "array<struct<feature:string,issue:string>>"},
    {"Name": "extra_keys", "Type": "array<string>"},
]


def glue_type(text: str) -> pl.DataType:
    """A Hive/Glue column type (`double`, `array<string>`, `array<struct<a:string,b:int>>`) as a polars dtype."""
    if text.startswith("array<") and text.endswith(">"):
        return pl.List(glue_type(text[len("array<") : -1]))
    if text.startswith("struct<") and text.endswith(">"):
        fields, depth, start, body = [], 0, 0, text[len("struct<") : -1]
        for index, char in enumerate(body + ","):
            depth += {"<": 1, ">": -1}.get(char, 0)
            if char == "," and depth == 0:
                name, kind = body[start:index].split(":", 1)
                fields.append(pl.Field(name, glue_type(kind)))
                start = index + 1
        return pl.Struct(fields)
    return GLUE_TYPES[text]()


def _check_columns(columns: list[dict[str, str]], schema: pl.Schema) -> None:
    for column in columns:
        assert column["Name"] in schema, column
        actual = schema[column["Name"]]
        if column["Type"] == "timestamp":
            assert isinstance(actual, pl.Datetime) and actual.time_zone == "UTC"
        else:
            assert actual == glue_type(column["Type"]), column


def test_declared_columns_are_written_by_ingestion_with_those_types(template, tmp_path):
    store = LocalStore(tmp_path)
    when = datetime(2024, 3, 1, 10, tzinfo=UTC)
    config = churn_config()
    captures = decode_capture_to_lake(io.BytesIO(capture_file(when, 3)), config, "c", store, "c", when)
    labels = decode_ground_truth_to_lake(
        io.BytesIO(ground_truth_file({"ev-0": 1})), config, "g", store, "g", when, when, when
    )
    tables = template.resources
    _check_columns(
        tables["CapturesTable"]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"],
        pl.read_parquet_schema(tmp_path / captures.files[0].key),
    )
    _check_columns(
        tables["GroundTruthTable"]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"],
        pl.read_parquet_schema(tmp_path / labels.files[0].key),
    )


def test_the_damage_columns_glue_should_declare_match_what_ingestion_writes(tmp_path):
    # Given a capture file decoded into a lake folder
    store = LocalStore(tmp_path)
    when = datetime(2024, 3, 1, 10, tzinfo=UTC)
    captures = decode_capture_to_lake(io.BytesIO(capture_file(when, 3)), churn_config(), "c", store, "c", when)
    # Then the Hive types to declare for the damage columns are exactly the Parquet types written
    _check_columns(DAMAGE_COLUMNS, pl.read_parquet_schema(tmp_path / captures.files[0].key))


def _results(start: datetime) -> pd.DataFrame:
    """A results table of one chunk with a drift row and a data-quality violation, as the monitors write them."""
    end = start + timedelta(hours=1)
    common = {"chunk_key": "k", "chunk_index": 0, "chunk_start": start, "chunk_end": end, "rows": 120}
    return conform(
        pd.DataFrame(
            [
                {
                    **common,
                    "monitor": "drift",
                    "kind": "univariate",
                    "metric": "jensen_shannon",
                    "feature": "tenure",
                    "value": 0.2,
                    "upper_threshold": 0.1,
                    "alert": True,
                    "labelled_rows": 0,
                },
                {
                    **common,
                    "monitor": "data_quality",
                    "kind": "constraint_check",
                    "metric": "completeness_check",
                    "feature": "spend",
                    "value": 0.7,
                    "alert": True,
                    "detail": "Value: 0.7 does not meet ...",
                    "labelled_rows": 0,
                },
            ]
        )
    )


def _model_quality_violations_key(model: str, start: datetime) -> str:
    return model_quality_keys(model, start)[1]


@pytest.mark.parametrize(
    ("logical_id", "key"),
    [
        ("ViolationsTable", constraint_violations_key),
        ("DriftTable", drift_key),
        ("ModelQualityViolationsTable", _model_quality_violations_key),
    ],
)
def test_violations_and_drift_tables_project_the_chunk_files(template, logical_id, key):
    # Given the day-partitioned table of one analysed chunk's file (#14)
    parameters = template.resources[logical_id]["Properties"]["TableInput"]["Parameters"]
    table = template.resources[logical_id]["Properties"]["TableInput"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["model", "dt"]
    assert (parameters["projection.dt.type"], parameters["projection.dt.format"]) == ("date", "yyyy-MM-dd")
    # Then its location template is the folder the monitor writes the chunk's file to
    start = datetime(2024, 3, 1, 23, tzinfo=UTC)
    location = template.resolve(parameters["storage.location.template"])
    folder = location.replace("${model}", "m1").replace("${dt}", "2024-03-01")
    lake = template.outputs()["LakeBucketName"]
    assert f"s3://{lake}/{key('m1', start)}".rsplit("/", 1)[0] + "/" == folder


def test_drift_and_violations_columns_are_what_the_monitors_write(template, tmp_path):
    # Given one chunk's drift Parquet and violations JSON as the monitors write them to the lake
    config = churn_config()
    table = _results(datetime(2024, 3, 1, 10, tzinfo=UTC))
    (drift_body,) = DriftMonitor(config).lake_files(table).values()
    (violations_body,) = DataQualityMonitor(config).lake_files(table).values()
    (tmp_path / "drift.parquet").write_bytes(drift_body)
    tables = template.resources
    # Then the drift table's declared columns have the Parquet types written
    _check_columns(
        tables["DriftTable"]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"],
        pl.read_parquet_schema(tmp_path / "drift.parquet"),
    )
    # and the violations table's columns are the JSON line's keys, with the violation's fields (one line per file)
    lines = violations_body.decode().splitlines()
    assert len(lines) == 1
    document = json.loads(lines[0])
    declared = tables["ViolationsTable"]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
    assert {c["Name"] for c in declared} <= set(document)
    violations_type = next(c["Type"] for c in declared if c["Name"] == "violations")
    assert violations_type == "array<struct<feature_name:string,constraint_check_type:string,description:string>>"
    assert document["violations"] == [
        {
            "feature_name": "spend",
            "constraint_check_type": "completeness_check",
            "description": "Value: 0.7 does not meet ...",
        }
    ]
    assert (document["chunk_start"], document["chunk_end"]) == ("2024-03-01T10:00:00Z", "2024-03-01T11:00:00Z")


def test_model_quality_violations_columns_are_what_the_performance_monitor_writes(template):
    # Given the entry the performance monitor writes per violated Model Monitor constraint (#17), in its chunk file
    entry = violation_entry("f1", 0.61, 0.7, "LessThanThreshold")
    document = {"violations": [entry], "model": "m1", "chunk_start": "2024-03-01T10:00:00Z", "chunk_end": "…"}
    declared = template.resources["ModelQualityViolationsTable"]["Properties"]["TableInput"]["StorageDescriptor"]
    # Then the table declares the file's keys, and the violation struct has exactly the entry's fields
    assert {c["Name"] for c in declared["Columns"]} <= set(document)
    violations_type = next(c["Type"] for c in declared["Columns"] if c["Name"] == "violations")
    declared_struct = glue_type(violations_type)
    assert isinstance(declared_struct, pl.List) and isinstance(declared_struct.inner, pl.Struct)
    assert {f.name: f.dtype for f in declared_struct.inner.fields} == dict.fromkeys(entry, pl.String)
