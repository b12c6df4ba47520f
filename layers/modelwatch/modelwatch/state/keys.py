"""The state table's one key scheme: every item kind's partition and sort keys, built and parsed here only.

Items (table `pk` S, `sk` S, TTL attribute `expires_at`):

| item | pk | sk |
|---|---|---|
| processed source object | `object#<bucket>/<key>` | `<version id or etag>` (`<version>#part<i>`: parts) |
| hour counters of a model | `model#<name>` | `hour#<YYYY-MM-DDTHH>` |
| run state of a model | `model#<name>` | `state` |
| run claim (one execution name) | `model#<name>` | `run#<execution name>` |
| label-trigger debounce | `model#<name>` | `trigger#labels` |
| published datapoint | `ledger#<name>` | `<series>#<metric>#<chunk start>` |
| compaction lease of a partition | `compaction#<partition prefix>` | `lease` |
| a model's incident (open, or the last closed) | `model#<name>` | `incident#<degradation or improvement>` |
| a model with an open paging incident | `fleet` | `alert#<name>` |

The Monitor state machine's `RecordSuccess` state writes the run state item itself; a test checks that its key and
attribute names are the ones below.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from modelwatch.chunks import HOUR_FORMAT, format_hour, hour_of

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expires_at"

OBJECT_PREFIX = "object#"
MODEL_PREFIX = "model#"
LEDGER_PREFIX = "ledger#"
COMPACTION_PREFIX = "compaction#"
HOUR_PREFIX = "hour#"
RUN_STATE_SK = "state"
RUN_CLAIM_PREFIX = "run#"
LABEL_DEBOUNCE_SK = "trigger#labels"
LEASE_SK = "lease"
PART_SUFFIX = "#part"
INCIDENT_PREFIX = "incident#"
FLEET_PK = "fleet"
FLEET_ALERT_PREFIX = "alert#"

__all__ = ["HOUR_FORMAT", "Key"]


class Key(NamedTuple):
    """One item's primary key."""

    pk: str
    sk: str


def object_key(bucket: str, key: str, version: str) -> Key:
    return Key(f"{OBJECT_PREFIX}{bucket}/{key}", version)


def object_part_key(bucket: str, key: str, version: str, part: int) -> Key:
    return Key(f"{OBJECT_PREFIX}{bucket}/{key}", f"{version}{PART_SUFFIX}{part}")


def model_pk(model: str) -> str:
    return f"{MODEL_PREFIX}{model}"


def hour_key(model: str, hour: datetime) -> Key:
    return Key(model_pk(model), HOUR_PREFIX + format_hour(hour))


def parse_hour_sk(sk: str) -> datetime:
    return hour_of(sk.removeprefix(HOUR_PREFIX))


def run_state_key(model: str) -> Key:
    return Key(model_pk(model), RUN_STATE_SK)


def run_claim_key(model: str, execution_name: str) -> Key:
    return Key(model_pk(model), f"{RUN_CLAIM_PREFIX}{execution_name}")


def label_debounce_key(model: str) -> Key:
    return Key(model_pk(model), LABEL_DEBOUNCE_SK)


def ledger_pk(model: str) -> str:
    return f"{LEDGER_PREFIX}{model}"


def ledger_sk(series: str, metric: str, chunk_start: str) -> str:
    """`<series>#<metric>#<chunk start>`: one series (estimated, realized, alert_estimated, ...) of one chunk."""
    return f"{series}#{metric}#{chunk_start}"


def compaction_lease_key(partition_prefix: str) -> Key:
    return Key(f"{COMPACTION_PREFIX}{partition_prefix}", LEASE_SK)


def incident_key(model: str, kind: str) -> Key:
    return Key(model_pk(model), f"{INCIDENT_PREFIX}{kind}")


def fleet_alert_key(model: str) -> Key:
    return Key(FLEET_PK, f"{FLEET_ALERT_PREFIX}{model}")
