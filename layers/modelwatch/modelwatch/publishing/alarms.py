"""Per-model CloudWatch alarms, created by `register` and deleted by `unregister`/teardown.

CloudFormation does not own them (models are registered at runtime); they are named predictably
(`modelwatch-<stack>-<model>-<what>`) and tagged with the model and the stack, and deletion matches on the tags, so
one model's or stack's teardown never touches another's alarms whose names share a prefix.

- `alert`: the model's state. Every successful run publishes `AlertState` (1 while the model has an open paging
  incident) stamped at publication; the alarm reads the latest value over one-minute periods and keeps its state
  while no run publishes (`TreatMissingData: ignore`), so it is ALARM from the run that opens an incident to the
  run that closes it, whatever the schedule and however late a run starts.
- Silence: `stalled` (no `RunHeartbeat` for two schedule intervals), `no-data` (no captured rows for
  `alerts.no_data_after`), `low-traffic` (captured rows per hour far below the reference's rate), `label-lag`
  (labels of due chunks below `min_label_coverage`), `quarantine` (share of quarantined records). Missing counts are
  filled with 0 (metric math `FILL`) so silence is judged at once, not after CloudWatch's evaluation range.
- `endpoint-*`: optional alarms on the endpoint's own metrics (AWS/SageMaker).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelwatch.config.model import ModelConfig
from modelwatch.constants import (
    ALARM_PREFIX,
    ALARM_STACK_TAG_KEY,
    ALARM_TAG_KEY,
    DEFAULT_METRIC_NAMESPACE,
    DIM_DRILL,
    DIM_SERVICE,
    METRIC_ALERT_DRILL,
    METRIC_ALERT_STATE,
    METRIC_CAPTURED_ROWS,
    METRIC_LABEL_COVERAGE,
    METRIC_RECORDS_DECODED,
    METRIC_RECORDS_QUARANTINED,
    METRIC_RUN_HEARTBEAT,
    SERVICE_NAME,
)
from modelwatch.observability import logger
from modelwatch.publishing.metrics import Datapoint, put_datapoints
from modelwatch.retry import call_with_retries
from modelwatch.units import model_dimensions

STATE_PERIOD_SECONDS = 60  # state metrics: the latest run's value decides (two runs a minute apart never merge)
HOURLY = 3600
ENDPOINT_PERIOD_SECONDS = 300
LOW_TRAFFIC_HOURS = 3  # hours in a row far below the reference's rate
DELETE_BATCH = 100  # DeleteAlarms takes at most 100 names
DRILL_TAG_KEY = "modelwatch:drill"
SAGEMAKER_NAMESPACE = "AWS/SageMaker"

ALERT = "alert"
STALLED = "stalled"
NO_DATA = "no-data"
LOW_TRAFFIC = "low-traffic"
LABEL_LAG = "label-lag"
QUARANTINE = "quarantine"
ENDPOINT_LATENCY = "endpoint-latency"
ENDPOINT_5XX = "endpoint-5xx"
ENDPOINT_4XX = "endpoint-4xx"


def alarm_name(stack: str, model: str, what: str = ALERT) -> str:
    return f"{ALARM_PREFIX}-{stack}-{model}-{what}"


def drill_alarm_name(stack: str, model: str, drill_id: str) -> str:
    return alarm_name(stack, model, f"drill-{drill_id}")


def _prefix(stack: str, model: str | None = None) -> str:
    return f"{ALARM_PREFIX}-{stack}-" + (f"{model}-" if model else "")


@dataclass(frozen=True)
class AlarmSettings:
    """Where a stack's per-model alarms read and notify, and what they are measured against."""

    stack: str
    alarms_topic_arn: str = ""
    namespace: str = DEFAULT_METRIC_NAMESPACE
    schedule_interval: timedelta = timedelta(hours=1)  # the fleet schedule (ScheduleIntervalSeconds)
    reference_rows_per_hour: float | None = None  # the reference's rate, for the low-traffic alarm

    @property
    def actions(self) -> list[str]:
        return [self.alarms_topic_arn] if self.alarms_topic_arn else []


def _whole_minutes(delta: timedelta) -> int:
    return max(60, int(delta.total_seconds()) // 60 * 60)


def _stat(ident: str, namespace: str, metric: str, dims: dict[str, str], period: int, stat: str) -> dict[str, Any]:
    return {
        "Id": ident,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": _dimensions(dims),
            },
            "Period": period,
            "Stat": stat,
        },
        "ReturnData": False,
    }


def _expression(ident: str, expression: str, label: str) -> dict[str, Any]:
    return {"Id": ident, "Expression": expression, "Label": label, "ReturnData": True}


def _filled(
    settings: AlarmSettings, metric: str, dims: dict[str, str], period: int, label: str
) -> list[dict[str, Any]]:
    """`metric` (Sum per period) with missing periods as 0: silence is breaching at once."""
    return [
        _stat("m", settings.namespace, metric, dims, period, "Sum"),
        _expression("e", "FILL(m, 0)", label),
    ]


def _named(model: str) -> dict[str, str]:
    """The dimensions naming a model's unit: Model, and Variant for a variant of a model watching several."""
    return dict(model_dimensions(model))


def _dimensions(dims: dict[str, str]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in dims.items()]


def _ingested(model: str) -> dict[str, str]:
    """The dimensions of ingestion's per-model counts (EMF lines carry the service dimension)."""
    return {**_named(model), DIM_SERVICE: SERVICE_NAME}


def _base(settings: AlarmSettings, config: ModelConfig, what: str, description: str) -> dict[str, Any]:
    return {
        "AlarmName": alarm_name(settings.stack, config.name, what),
        "AlarmDescription": description,
        "ActionsEnabled": True,
        "AlarmActions": settings.actions,
        "OKActions": settings.actions,
        "Tags": [
            {"Key": ALARM_TAG_KEY, "Value": config.name},
            {"Key": ALARM_STACK_TAG_KEY, "Value": settings.stack},
        ],
    }


def state_alarm(settings: AlarmSettings, config: ModelConfig) -> dict[str, Any]:
    """The model's alarm: ALARM exactly while the model has an open paging incident (see the module doc)."""
    return {
        **_base(
            settings,
            config,
            ALERT,
            f"modelwatch: model {config.name} has an open incident (performance past its thresholds on the side "
            "that is worse). The notifications topic says which metrics, since when and where to look.",
        ),
        "Namespace": settings.namespace,
        "MetricName": METRIC_ALERT_STATE,
        "Dimensions": _dimensions(_named(config.name)),
        "Statistic": "Maximum",
        "Period": STATE_PERIOD_SECONDS,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "ignore",
    }


def silence_alarms(settings: AlarmSettings, config: ModelConfig) -> list[dict[str, Any]]:
    """Alarms for what should happen and does not: runs, captures, traffic, labels; and quarantined records."""
    model = config.name
    interval = _whole_minutes(settings.schedule_interval)
    alarms = [
        {
            **_base(
                settings,
                config,
                STALLED,
                f"modelwatch: no successful monitor run of model {model} (and no fleet check finding nothing to do) "
                f"for two schedule intervals ({2 * interval // 60} min): runs fail, time out or are not started.",
            ),
            "Metrics": _filled(settings, METRIC_RUN_HEARTBEAT, _named(model), interval, "runs and checks"),
            "EvaluationPeriods": 2,
            "DatapointsToAlarm": 2,
            "Threshold": 1.0,
            "ComparisonOperator": "LessThanThreshold",
            "TreatMissingData": "breaching",
        }
    ]
    no_data = config.alerts.no_data_after_delta
    if no_data is not None:
        period = min(_whole_minutes(no_data), 86400)
        periods = max(1, math.ceil(no_data.total_seconds() / period))
        alarms.append(
            {
                **_base(
                    settings,
                    config,
                    NO_DATA,
                    f"modelwatch: no captured rows of model {model} for {config.alerts.no_data_after} (endpoint "
                    f"{config.endpoint} down or without traffic, data capture switched off, or none since "
                    "registration).",
                ),
                "Metrics": _filled(settings, METRIC_CAPTURED_ROWS, _ingested(model), period, "captured rows"),
                "EvaluationPeriods": periods,
                "DatapointsToAlarm": periods,
                "Threshold": 1.0,
                "ComparisonOperator": "LessThanThreshold",
                "TreatMissingData": "breaching",
            }
        )
    rate = settings.reference_rows_per_hour
    share = config.alerts.min_traffic_share
    if rate and share > 0 and rate * share >= 1:
        alarms.append(
            {
                **_base(
                    settings,
                    config,
                    LOW_TRAFFIC,
                    f"modelwatch: model {model} captured fewer than {share:.0%} of the reference's "
                    f"{rate:.0f} rows per hour for {LOW_TRAFFIC_HOURS} hours in a row.",
                ),
                "Metrics": _filled(settings, METRIC_CAPTURED_ROWS, _ingested(model), HOURLY, "captured rows per hour"),
                "EvaluationPeriods": LOW_TRAFFIC_HOURS,
                "DatapointsToAlarm": LOW_TRAFFIC_HOURS,
                "Threshold": round(rate * share, 3),
                "ComparisonOperator": "LessThanThreshold",
                "TreatMissingData": "breaching",
            }
        )
    if config.ground_truth.expected_delay is not None:
        gate = config.estimation.min_label_coverage
        alarms.append(
            {
                **_base(
                    settings,
                    config,
                    LABEL_LAG,
                    f"modelwatch: labels of model {model} are late: {config.ground_truth.expected_delay} after a "
                    f"chunk ended, its label coverage is below min_label_coverage {gate:.0%}.",
                ),
                "Namespace": settings.namespace,
                "MetricName": METRIC_LABEL_COVERAGE,
                "Dimensions": _dimensions(_named(model)),
                "Statistic": "Minimum",
                "Period": STATE_PERIOD_SECONDS,
                "EvaluationPeriods": 1,
                "DatapointsToAlarm": 1,
                "Threshold": gate,
                "ComparisonOperator": "LessThanThreshold",
                "TreatMissingData": "ignore",
            }
        )
    quarantine = config.alerts.max_quarantine_share
    alarms.append(
        {
            **_base(
                settings,
                config,
                QUARANTINE,
                f"modelwatch: more than {quarantine:.0%} of model {model}'s records in an hour were quarantined "
                "(NaN or infinite predictions, undecodable requests or labels): the model or its client is broken. "
                "`modelwatch replay --quarantine` after fixing.",
            ),
            "Metrics": [
                _stat("q", settings.namespace, METRIC_RECORDS_QUARANTINED, _ingested(model), HOURLY, "Sum"),
                _stat("d", settings.namespace, METRIC_RECORDS_DECODED, _ingested(model), HOURLY, "Sum"),
                # No records at all: no value (the no-data alarm speaks for that), so missing is not breaching.
                _expression("e", "FILL(q, 0) / (FILL(q, 0) + FILL(d, 0))", "share quarantined"),
            ],
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "Threshold": quarantine,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
        }
    )
    return alarms


def endpoint_alarms(settings: AlarmSettings, config: ModelConfig) -> list[dict[str, Any]]:
    """Optional alarms on the endpoint itself (`alerts.endpoint.enabled`): latency and 5XX/4XX errors."""
    wanted = config.alerts.endpoint
    if not wanted.enabled:
        return []
    dims = [{"Name": "EndpointName", "Value": config.endpoint}, {"Name": "VariantName", "Value": config.variant}]
    common = {
        "Namespace": SAGEMAKER_NAMESPACE,
        "Dimensions": dims,
        "Period": ENDPOINT_PERIOD_SECONDS,
        "TreatMissingData": "notBreaching",  # no invocations, no errors: the no-data alarm covers silence
    }
    alarms = []
    if wanted.max_latency_ms is not None:
        alarms.append(
            {
                **_base(
                    settings,
                    config,
                    ENDPOINT_LATENCY,
                    f"modelwatch: endpoint {config.endpoint} ({config.variant}) ModelLatency averaged over "
                    f"{wanted.max_latency_ms:g} ms for 15 minutes.",
                ),
                **common,
                "MetricName": "ModelLatency",
                "Statistic": "Average",
                "EvaluationPeriods": 3,
                "DatapointsToAlarm": 3,
                "Threshold": wanted.max_latency_ms * 1000.0,  # ModelLatency is in microseconds
                "ComparisonOperator": "GreaterThanThreshold",
            }
        )
    for what, metric, limit in (
        (ENDPOINT_5XX, "Invocation5XXErrors", wanted.max_5xx),
        (ENDPOINT_4XX, "Invocation4XXErrors", wanted.max_4xx),
    ):
        if limit is None:
            continue
        alarms.append(
            {
                **_base(
                    settings,
                    config,
                    what,
                    f"modelwatch: endpoint {config.endpoint} ({config.variant}) returned {limit} or more {metric} "
                    "in 5 minutes.",
                ),
                **common,
                "MetricName": metric,
                "Statistic": "Sum",
                "EvaluationPeriods": 1,
                "DatapointsToAlarm": 1,
                "Threshold": float(limit),
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            }
        )
    return alarms


def model_alarms(settings: AlarmSettings, config: ModelConfig) -> list[dict[str, Any]]:
    """Every PutMetricAlarm request of a model, in a stable order."""
    return [state_alarm(settings, config), *silence_alarms(settings, config), *endpoint_alarms(settings, config)]


def put_model_alarms(cloudwatch: Any, settings: AlarmSettings, config: ModelConfig) -> list[str]:
    """Create (or update) the model's alarms (PutMetricAlarm, with their tags); their names."""
    names = []
    for params in model_alarms(settings, config):

        def put(params: dict[str, Any] = params) -> Any:
            return cloudwatch.put_metric_alarm(**params)

        call_with_retries(put, f"PutMetricAlarm {params['AlarmName']}")
        names.append(params["AlarmName"])
    return names


def create_model_alarms(cloudwatch: Any, settings: AlarmSettings, config: ModelConfig) -> list[str]:
    """Create (or update) the model's alarms; remove alarms of this model that the config no longer asks for."""
    names = put_model_alarms(cloudwatch, settings, config)
    owned = _owned_alarms(cloudwatch, settings.stack, config.name, include_drills=False)
    stale = [n for n in owned if n not in names]
    _delete(cloudwatch, stale)
    logger.info("model alarms created", model=config.name, alarms=len(names), removed=len(stale))
    return names


def seed_heartbeat(cloudwatch: Any, namespace: str, model: str, now: datetime) -> None:
    """A registered model (and the fleet) count as running until the first run is due: one RunHeartbeat each at
    registration, so the stalled alarms do not start in ALARM."""
    points = [
        Datapoint(METRIC_RUN_HEARTBEAT, model_dimensions(model), now, 1.0, unit="Count"),
        Datapoint(METRIC_RUN_HEARTBEAT, (), now, 1.0, unit="Count"),
    ]
    put_datapoints(cloudwatch, namespace, points)


def drill_alarm(settings: AlarmSettings, model: str, drill_id: str) -> dict[str, Any]:
    """A fire drill's temporary alarm: the model alarm's settings on the drill's own metric, same actions."""
    return {
        "AlarmName": drill_alarm_name(settings.stack, model, drill_id),
        "AlarmDescription": f"modelwatch fire drill {drill_id} of model {model}: a test of the alert path, no action "
        "needed. Deleted when the drill ends.",
        "ActionsEnabled": True,
        "AlarmActions": settings.actions,
        "OKActions": settings.actions,
        "Namespace": settings.namespace,
        "MetricName": METRIC_ALERT_DRILL,
        "Dimensions": _dimensions({**_named(model), DIM_DRILL: drill_id}),
        "Statistic": "Maximum",
        "Period": STATE_PERIOD_SECONDS,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "ignore",
        "Tags": [
            {"Key": ALARM_TAG_KEY, "Value": model},
            {"Key": ALARM_STACK_TAG_KEY, "Value": settings.stack},
            {"Key": DRILL_TAG_KEY, "Value": drill_id},
        ],
    }


def _owned_alarms(cloudwatch: Any, stack: str, model: str | None, include_drills: bool = True) -> list[str]:
    """Alarm names under the stack's (and model's) prefix whose tags say they belong to that stack (and model);
    without `include_drills`, a fire drill's temporary alarm is left out (the drill deletes it)."""
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
            if not include_drills and DRILL_TAG_KEY in tags:
                continue
            names.append(alarm["AlarmName"])
    return sorted(names)


def owned_alarms(cloudwatch: Any, stack: str, model: str) -> list[dict[str, Any]]:
    """The model's alarms in this stack (descriptions), e.g. for the fire drill's check that they are in place."""
    names = set(_owned_alarms(cloudwatch, stack, model, include_drills=False))
    found: list[dict[str, Any]] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=_prefix(stack, model), AlarmTypes=["MetricAlarm"]
    ):
        found.extend(a for a in page.get("MetricAlarms", []) if a["AlarmName"] in names)
    return found


def _delete(cloudwatch: Any, names: list[str]) -> None:
    for start in range(0, len(names), DELETE_BATCH):
        batch = names[start : start + DELETE_BATCH]

        def delete(batch: list[str] = batch) -> Any:
            return cloudwatch.delete_alarms(AlarmNames=batch)

        call_with_retries(delete, f"DeleteAlarms ({len(batch)})")


def delete_alarms(cloudwatch: Any, names: list[str]) -> None:
    """Delete alarms by name (the fire drill's own)."""
    _delete(cloudwatch, names)


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
