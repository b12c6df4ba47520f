"""Per-model CloudWatch alarms on the 0/1 Alert metric: created by `register`, deleted by `unregister`/teardown.

CloudFormation does not own them (models are registered at runtime); they are named predictably
(`modelwatch-<stack>-<model>-<metric>-alert`) and tagged with the model and the stack, and deletion matches on
the tags, so one model's or stack's teardown never touches another's alarms whose names share a prefix.
"""

from __future__ import annotations

from typing import Any

from modelwatch.config.model import ModelConfig
from modelwatch.constants import (
    ALARM_PREFIX,
    ALARM_STACK_TAG_KEY,
    ALARM_TAG_KEY,
    DEFAULT_METRIC_NAMESPACE,
    DIM_METRIC,
    DIM_MODEL,
    METRIC_ALERT,
)
from modelwatch.observability import logger
from modelwatch.retry import call_with_retries

ALARM_PERIOD_SECONDS = 300
DELETE_BATCH = 100  # DeleteAlarms takes at most 100 names


def alarm_name(stack: str, model: str, metric: str) -> str:
    return f"{ALARM_PREFIX}-{stack}-{model}-{metric}-alert"


def _prefix(stack: str, model: str | None = None) -> str:
    return f"{ALARM_PREFIX}-{stack}-" + (f"{model}-" if model else "")


def create_model_alarms(
    cloudwatch: Any,
    stack: str,
    config: ModelConfig,
    alarms_topic_arn: str,
    *,
    namespace: str = DEFAULT_METRIC_NAMESPACE,
    period_seconds: int = ALARM_PERIOD_SECONDS,
) -> list[str]:
    """Create (or update) one alarm per metric of the model; remove alarms of metrics the config no longer has."""
    actions = [alarms_topic_arn] if alarms_topic_arn else []
    names = []
    for metric in config.alert_metrics:
        name = alarm_name(stack, config.name, metric)
        params = {
            "AlarmName": name,
            "AlarmDescription": (
                f"modelwatch: {metric} of model {config.name} newly crossed a threshold (estimated or realized). "
                "The notifications topic has the values, chunks and report link."
            ),
            "Namespace": namespace,
            "MetricName": METRIC_ALERT,
            "Dimensions": [{"Name": DIM_MODEL, "Value": config.name}, {"Name": DIM_METRIC, "Value": metric}],
            "Statistic": "Maximum",
            "Period": period_seconds,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "ActionsEnabled": True,
            "AlarmActions": actions,
            "OKActions": actions,
            "Tags": [{"Key": ALARM_TAG_KEY, "Value": config.name}, {"Key": ALARM_STACK_TAG_KEY, "Value": stack}],
        }

        def put(params: dict[str, Any] = params) -> Any:
            return cloudwatch.put_metric_alarm(**params)

        call_with_retries(put, f"PutMetricAlarm {name}")
        names.append(name)
    stale = [n for n in _owned_alarms(cloudwatch, stack, config.name) if n not in names]
    _delete(cloudwatch, stale)
    logger.info("model alarms created", model=config.name, alarms=len(names), removed=len(stale))
    return names


def _owned_alarms(cloudwatch: Any, stack: str, model: str | None) -> list[str]:
    """Alarm names under the stack's (and model's) prefix whose tags say they belong to that stack (and model)."""
    names = []
    paginator = cloudwatch.get_paginator("describe_alarms")
    for page in paginator.paginate(AlarmNamePrefix=_prefix(stack, model), AlarmTypes=["MetricAlarm"]):
        for alarm in page.get("MetricAlarms", []):
            tags = {
                t["Key"]: t["Value"]
                for t in cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags", [])
            }
            if tags.get(ALARM_STACK_TAG_KEY) != stack or ALARM_TAG_KEY not in tags:
                continue
            if model is not None and tags[ALARM_TAG_KEY] != model:
                continue
            names.append(alarm["AlarmName"])
    return sorted(names)


def _delete(cloudwatch: Any, names: list[str]) -> None:
    for start in range(0, len(names), DELETE_BATCH):
        batch = names[start : start + DELETE_BATCH]

        def delete(batch: list[str] = batch) -> Any:
            return cloudwatch.delete_alarms(AlarmNames=batch)

        call_with_retries(delete, f"DeleteAlarms ({len(batch)})")


def delete_model_alarms(cloudwatch: Any, stack: str, model: str) -> list[str]:
    """Delete the model's alarms in this stack (by tag); returns the deleted names."""
    names = _owned_alarms(cloudwatch, stack, model)
    _delete(cloudwatch, names)
    logger.info("model alarms deleted", model=model, alarms=len(names))
    return names


def delete_all_model_alarms(cloudwatch: Any, stack: str) -> list[str]:
    """Teardown: delete every per-model alarm of the stack (run before or after `sam delete`)."""
    names = _owned_alarms(cloudwatch, stack, None)
    _delete(cloudwatch, names)
    logger.info("all model alarms deleted", stack=stack, alarms=len(names))
    return names
