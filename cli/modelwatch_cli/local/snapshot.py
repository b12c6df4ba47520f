"""What `modelwatch run` and `demo` leave in their output folder for the state-reading verbs (`--local DIR`): the
models' registered configs (`models/<model>/config.yaml`) and each model's status as of the end of the run
(`status/<model>.json`, the row `modelwatch status` shows), since a folder has no state table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwatch.errors import LakeError
from modelwatch.lake.layout import model_config_key
from modelwatch.lake.store import ObjectStore, S3Store
from modelwatch.registry.store import Registry
from modelwatch.state import State
from modelwatch.workflow.lifecycle import model_status

if TYPE_CHECKING:
    from modelwatch_cli.local.stack import LocalStack

STATUS_FOLDER = "status"


def export_snapshot(stack: LocalStack, output: Path) -> list[str]:
    """Copy the stack's registered configs and each model's status (as of the stack's clock) into `output`; the
    models exported."""
    store = S3Store(stack.clients["s3"], stack.lake_bucket)
    registry = Registry(store, cache_seconds=0)
    state = State(stack.clients["dynamodb"], stack.outputs["StateTableName"])
    now = stack.clock.now()
    names = registry.names()  # the monitored units (a model watching several variants: one per variant)
    for name in registry.registered():
        target = output / model_config_key(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.get(model_config_key(name)))
    folder = output / STATUS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for row in model_status(registry, state, now):
        row["as_of"] = now.isoformat().replace("+00:00", "Z")
        (folder / f"{row['model']}.json").write_text(json.dumps(row, default=str, indent=2) + "\n", encoding="utf-8")
    return names


def folder_status(store: ObjectStore) -> dict[str, dict[str, Any]]:
    """The status rows a run or demo left in a lake folder, by model (empty for a folder `decode` wrote)."""
    rows: dict[str, dict[str, Any]] = {}
    for key in store.list(f"{STATUS_FOLDER}/"):
        if not key.endswith(".json"):
            continue
        try:
            row = json.loads(store.get(key))
        except (LakeError, ValueError):
            continue
        if isinstance(row, dict) and isinstance(row.get("model"), str):
            rows[row["model"]] = row
    return rows
