"""The SAM translator's view of template.yaml: placeholder URIs in, generated roles, schedules and policies out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checks.asl import load_template
from modelwatch.errors import LocalStackError
from modelwatch_cli.local import translation
from modelwatch_cli.local.sam_translate import PLACEHOLDER_BUCKET, with_placeholder_uris
from tests.helpers import ROOT

needs_translator = pytest.mark.skipif(
    not translation.translator_available(),
    reason=f"the SAM translator lives in the tools venv ({translation.sam_python()}): run `make tools`",
)


def test_local_paths_become_s3_placeholders_and_local_images_get_an_uri() -> None:
    # Given the template as written (local CodeUri, ContentUri, DefinitionUri, an image built from a Dockerfile)
    document = load_template(ROOT / "template.yaml")
    # When the placeholders are put in
    placed = with_placeholder_uris(document)
    # Then every local path is an S3 URI, the image function has an URI, and the input is left as it was
    resources = placed["Resources"]
    assert (
        resources["IngestCaptureFunction"]["Properties"]["CodeUri"]
        == f"s3://{PLACEHOLDER_BUCKET}/IngestCaptureFunction"
    )
    assert resources["ModelwatchLayer"]["Properties"]["ContentUri"].startswith("s3://")
    assert resources["MonitorStateMachine"]["Properties"]["DefinitionUri"].startswith("s3://")
    assert "CodeUri" not in resources["AnalyseFunction"]["Properties"]
    assert resources["AnalyseFunction"]["Properties"]["ImageUri"].endswith(":latest")
    assert document["Resources"]["IngestCaptureFunction"]["Properties"]["CodeUri"] == "functions/ingest_capture/"


def test_a_missing_translator_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(translation.ENV_SAM_PYTHON, str(tmp_path / "no-python"))
    with pytest.raises(LocalStackError, match="make tools"):
        translation.translate(ROOT / "template.yaml")


@needs_translator
def test_the_translated_template_has_a_role_per_function_with_the_expanded_policy_templates() -> None:
    # When template.yaml is translated as `sam deploy` would
    translated: dict[str, Any] = translation.translate(ROOT / "template.yaml")
    resources = translated["Resources"]
    # Then every function is a Lambda function with its own generated role
    functions = {lid for lid, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert "StartMonitorFunction" in functions
    for function in functions:
        assert resources[function]["Properties"]["Role"] == {"Fn::GetAtt": [f"{function}Role", "Arn"]}
    # And SAM's policy templates are expanded into statements (S3ReadPolicy on the lake for ListModels)
    policies = resources["ListModelsFunctionRole"]["Properties"]["Policies"]
    actions = {a for p in policies for s in p["PolicyDocument"]["Statement"] for a in _as_list(s["Action"])}
    assert {"s3:GetObject", "s3:ListBucket"} <= actions
    assert "s3:PutObject" not in actions
    # And schedules call their targets through roles SAM generates for them
    assert resources["FleetStateMachineSchedule"]["Properties"]["Target"]["RoleArn"] == {
        "Fn::GetAtt": ["FleetStateMachineScheduleRole", "Arn"]
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
