"""The Glue tables in template.yaml project exactly the lake layout the writer uses."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import polars as pl
import pytest

from modelwatch.ingest.pipeline import decode_capture_to_lake, decode_ground_truth_to_lake
from modelwatch.lake.layout import Partition
from modelwatch.lake.store import LocalStore
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


GLUE_TYPES = {"string": pl.String, "int": pl.Int32, "bigint": pl.Int64, "double": pl.Float64}
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
