"""Model versions on the stack: `register --version` without a time leaves the version pending; the endpoint's
update completing (SageMaker's event through EventBridge and the versions queue) takes it live at the event's time."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pandas as pd
import pytest

from modelwatch.clock import SimulatedClock
from modelwatch.config.model import ModelConfig, parse_model_config
from modelwatch.errors import RegistryError
from modelwatch.lake.store import S3Store
from modelwatch.registry.store import Registry
from modelwatch.workflow.lifecycle import ReferenceData, register_model
from modelwatch.workflow.versions import add_version
from modelwatch_cli.local.functions import LambdaContext
from modelwatch_cli.local.stack import LocalStack
from tests.helpers import load_event, load_handler
from tests.integration.workflow.conftest import Aws
from tests.unit.workflow.helpers import model_config

SWITCH = datetime(2024, 3, 1, 10, 31, tzinfo=UTC)  # the event's time in events/sqs_endpoint_in_service.json


def _reference(rows: int = 2400) -> ReferenceData:
    frame = pd.DataFrame(
        {
            "x": [float(i % 70) for i in range(rows)],
            "y": [1000.0 + i for i in range(rows)],
            "y_pred_proba": [(i % 10) / 10 + 0.05 for i in range(rows)],
            "y_pred": [int((i % 10) >= 5) for i in range(rows)],
            "target": [int((i % 7) >= 3) for i in range(rows)],
            "timestamp": pd.date_range("2024-02-01", periods=rows, freq="20s", tz="UTC"),
        }
    )
    body = io.BytesIO()
    frame.to_parquet(body, index=False)
    return ReferenceData(body.getvalue(), ".parquet", "reference-v2.parquet")


def _call(event: dict[str, Any]) -> dict[str, Any]:
    module = load_handler("endpoint_update")
    return module.lambda_handler(event, LambdaContext("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn"))


@pytest.fixture
def aws(handler_aws: Aws) -> Aws:
    return handler_aws


def test_a_pending_version_goes_live_when_the_endpoint_update_completes(aws: Aws) -> None:
    # Given a model with a second version registered without a time (pending)
    added = add_version(aws.registry, "loans", "v2", _reference(), None)
    assert added["versions"] == ["v1", "v2"] and added["from"] is None
    assert added["reference"].endswith("/models/loans/versions/v2/reference.parquet")
    pending = aws.registry.get("loans")
    assert pending.pending_version is not None and not pending.versioned
    # When SageMaker says the endpoint is in service again (EventBridge -> SQS -> EndpointUpdateFunction)
    response = _call(load_event("sqs_endpoint_in_service"))
    # Then the version is live from the event's time: two versions, split there
    assert response == {"batchItemFailures": []}
    live = aws.registry.get("loans")
    assert live.versioned and live.pending_version is None
    assert [(s.name, s.start) for s in live.version_spans()] == [("v1", None), ("v2", SWITCH)]
    assert live.version_spans()[1].reference == added["reference"]
    # And the same event delivered again changes nothing (SageMaker may send several)
    _call(load_event("sqs_endpoint_in_service"))
    assert aws.registry.get("loans") == live


def test_another_endpoint_and_bad_messages(aws: Aws) -> None:
    add_version(aws.registry, "loans", "v2", _reference(), None)
    event = load_event("sqs_endpoint_in_service")
    body = json.loads(event["Records"][0]["body"])
    body["detail"]["EndpointName"] = "some-other-endpoint"
    other = {"Records": [{**event["Records"][0], "body": json.dumps(body)}]}
    broken = {"Records": [{**event["Records"][0], "messageId": "m-2", "body": "{not json"}]}
    # An update of another endpoint leaves the version pending; a message that is not an endpoint event is
    # reported as a batch item failure (retried, then kept in the queue's DLQ), not dropped.
    assert _call(other) == {"batchItemFailures": []}
    assert aws.registry.get("loans").pending_version is not None
    assert _call(broken) == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}


def test_versions_are_append_only_and_ordered(aws: Aws) -> None:
    add_version(aws.registry, "loans", "v2", _reference(), SWITCH)
    with pytest.raises(RegistryError, match="version v2 is registered already"):
        add_version(aws.registry, "loans", "v2", _reference(), None)
    with pytest.raises(RegistryError, match="must go live after 2024-03-01T10:31:00Z"):
        add_version(aws.registry, "loans", "v3", None, datetime(2024, 3, 1, 9, tzinfo=UTC))
    add_version(aws.registry, "loans", "v3", None, None)  # pending, no reference: reported, not estimated
    with pytest.raises(RegistryError, match="version v3 is pending"):
        add_version(aws.registry, "loans", "v4", None, None)


def test_registering_the_file_again_keeps_a_switch_the_endpoint_made(aws: Aws) -> None:
    add_version(aws.registry, "loans", "v2", _reference(), None)
    _call(load_event("sqs_endpoint_in_service"))
    # The team's file lists v2 without a time (it was pending when they wrote it)
    stored = aws.registry.get("loans")
    again = stored.model_copy(
        update={
            "versions": [
                v.model_copy(update={"effective_from": None}) if v.name == "v2" else v for v in stored.versions or []
            ]
        }
    )
    register_model(aws.registry, again, _reference())
    assert aws.registry.get("loans").version_spans()[1].start == SWITCH


def _every_variant(name: str, endpoint: str) -> ModelConfig:
    """A model watching every variant of `endpoint` (`variants: "*"`)."""
    data = model_config(name).model_dump(mode="json", by_alias=True)
    return parse_model_config({**data, "endpoint": endpoint, "variants": "*"})


def test_variants_found_in_service_get_their_units_and_alarms(aws: Aws) -> None:
    # Given a model watching every variant of an endpoint, none captured yet
    aws.register(_every_variant("ab", "ep-ab"))
    assert aws.registry.units_of("ab") == []
    # When the endpoint comes into service with two variants and a shadow one
    event = load_event("sqs_endpoint_in_service")
    body = json.loads(event["Records"][0]["body"])
    body["detail"].update(
        EndpointName="ep-ab",
        ProductionVariants=[{"VariantName": "blue"}, {"VariantName": "green"}],
        ShadowProductionVariants=[{"VariantName": "shadow-1"}],
    )
    assert _call({"Records": [{**event["Records"][0], "body": json.dumps(body)}]}) == {"batchItemFailures": []}
    # Then each is a unit, remembered for ingest and the fleet, with its alarms before its first run
    units = [u.name for u in aws.registry.units_of("ab")]
    assert units == ["ab.blue", "ab.green", "ab.shadow-1"]
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    names = [
        a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix="modelwatch-modelwatch-ab.")["MetricAlarms"]
    ]
    for unit in units:
        assert f"modelwatch-modelwatch-{unit}-alert" in names, names


def test_the_stack_routes_the_endpoint_event_to_the_function() -> None:
    # Given the real template on the embedded stack, a model with a pending version, one watching every variant
    with LocalStack(clock=SimulatedClock(SWITCH - timedelta(hours=1)), log_stream=io.StringIO()) as stack:
        registry = Registry(S3Store(stack.clients["s3"], stack.lake_bucket), cache_seconds=0)
        registry.register(model_config("loans"), b"PAR1", ".parquet")
        registry.register(_every_variant("ab", "ep-loans"), b"PAR1", ".parquet")
        add_version(registry, "loans", "v2", _reference(), None)
        # When SageMaker's event reaches the default event bus (the rule -> queue -> EndpointUpdateFunction)
        body = json.loads(load_event("sqs_endpoint_in_service")["Records"][0]["body"])
        entry = {"Source": body["source"], "DetailType": body["detail-type"], "Detail": json.dumps(body["detail"])}
        stack.clients["events"].put_events(Entries=[{**entry, "Time": SWITCH}])
        stack.run_until_idle()
        # Then the version is live from the event's time, and the variant in service has its unit and alarms (the
        # function's role allows exactly that)
        live = registry.get("loans")
        assert [s.name for s in live.version_spans()] == ["v1", "v2"]
        assert live.version_spans()[1].start == SWITCH
        assert [u.name for u in registry.units_of("ab")] == ["ab.AllTraffic"]
        prefix = f"modelwatch-{stack.template.stack_name}-ab."
        alarms = stack.clients["cloudwatch"].describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
        assert alarms, "no alarm for the variant found in service"
