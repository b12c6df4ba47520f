"""A model's run state in the state table (pk `model#<name>`, sk `state`): last analysed chunk, last run, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from modelwatch.clock import to_utc
from modelwatch.constants import STATE_MODEL_PK_PREFIX, STATE_MODEL_SK
from modelwatch.errors import WorkflowError
from modelwatch.workflow.window import iso

STATE_SK = STATE_MODEL_SK
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def model_pk(model: str) -> str:
    return f"{STATE_MODEL_PK_PREFIX}{model}"


@dataclass(frozen=True)
class RunState:
    """What the workflow remembers about one model between runs (all times ISO-8601 UTC strings)."""

    model: str
    last_analysed_chunk: str | None = None  # end of the last chunk a successful run covered
    last_run: str | None = None  # run id (= execution name) of the last successful run
    last_run_at: str | None = None
    last_input_version: str | None = None
    last_error: dict[str, Any] | None = None  # {Error, Cause, run_id, at}
    last_triggered_end: str | None = None  # last chunk end a trigger started a run for
    last_triggered_labels: str | None = None  # label digest at that trigger
    last_triggered_sealed: int = 0
    last_execution: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_item(cls, model: str, item: dict[str, Any] | None) -> RunState:
        if not item:
            return cls(model=model)
        data = {k: _deserializer.deserialize(v) for k, v in item.items()}
        known = {f for f in cls.__dataclass_fields__ if f not in ("model", "extra")}
        values: dict[str, Any] = {k: data[k] for k in known if data.get(k) is not None}
        if "last_triggered_sealed" in values:
            values["last_triggered_sealed"] = int(values["last_triggered_sealed"])
        extra = {k: v for k, v in data.items() if k not in known and k not in ("pk", "sk")}
        return cls(model=model, extra=extra, **values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "last_analysed_chunk": self.last_analysed_chunk,
            "last_run": self.last_run,
            "last_run_at": self.last_run_at,
            "last_input_version": self.last_input_version,
            "last_error": self.last_error,
            "last_execution": self.last_execution,
        }


def _key(model: str) -> dict[str, Any]:
    return {"pk": {"S": model_pk(model)}, "sk": {"S": STATE_SK}}


def _update(client: Any, table: str, model: str, values: dict[str, Any], remove: tuple[str, ...] = ()) -> None:
    names = {f"#{k}": k for k in values} | {f"#{k}": k for k in remove}
    expression = "SET " + ", ".join(f"#{k} = :{k}" for k in values)
    if remove:
        expression += " REMOVE " + ", ".join(f"#{k}" for k in remove)
    try:
        client.update_item(
            TableName=table,
            Key=_key(model),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{k}": _serializer.serialize(v) for k, v in values.items()},
        )
    except Exception as exc:  # botocore raises ClientError subclasses per code
        raise WorkflowError(f"model {model}: cannot update run state in {table}: {exc}") from exc


def load_run_state(client: Any, table: str, model: str) -> RunState:
    try:
        response = client.get_item(TableName=table, Key=_key(model), ConsistentRead=True)
    except Exception as exc:
        raise WorkflowError(f"model {model}: cannot read run state from {table}: {exc}") from exc
    return RunState.from_item(model, response.get("Item"))


def record_trigger(
    client: Any,
    table: str,
    model: str,
    *,
    execution_name: str,
    last_chunk_end: datetime | None,
    label_digest: str,
    sealed_chunks: int,
    now: datetime,
) -> None:
    """Remember what a trigger started, so the next burst of files does not start it again."""
    values: dict[str, Any] = {
        "last_execution": execution_name,
        "last_triggered_labels": label_digest,
        "last_triggered_sealed": sealed_chunks,
        "last_triggered_at": iso(to_utc(now)),
    }
    if last_chunk_end is not None:
        values["last_triggered_end"] = iso(last_chunk_end)
    _update(client, table, model, values)


def record_success(
    client: Any, table: str, model: str, *, run_id: str, input_version: str, last_chunk_end: str, now: datetime
) -> None:
    """A run finished: remember its chunk end and input version, clear the last error.

    The Monitor state machine does the same in its RecordSuccess state (a DynamoDB UpdateItem task).
    """
    values = {
        "last_run": run_id,
        "last_input_version": input_version,
        "last_analysed_chunk": last_chunk_end,
        "last_run_at": iso(to_utc(now)),
    }
    _update(client, table, model, values, remove=("last_error",))


def record_failure(client: Any, table: str, model: str, *, run_id: str, error: str, cause: str, now: datetime) -> None:
    """A run failed: remember the named error (shown by `modelwatch status`)."""
    entry = {"Error": error, "Cause": cause[:4000], "run_id": run_id, "at": iso(to_utc(now))}
    _update(client, table, model, {"last_error": entry})


def delete_model_items(client: Any, table: str, model: str) -> int:
    """Delete every item of a model (run state, hour counters, trigger claims); returns how many."""
    deleted = 0
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": model_pk(model)}},
        "ProjectionExpression": "pk, sk",
    }
    try:
        while True:
            page = client.query(**kwargs)
            for item in page.get("Items", []):
                client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
                deleted += 1
            if "LastEvaluatedKey" not in page:
                return deleted
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except Exception as exc:
        raise WorkflowError(f"model {model}: cannot delete its state items from {table}: {exc}") from exc
