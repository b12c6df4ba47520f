"""The state table on moto DynamoDB, created with template.yaml's key schema."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from modelwatch.state import State
from tests.helpers import create_state_table

TABLE = "state"


@dataclass
class Table:
    dynamodb: Any
    state: State

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})
        return response.get("Item")


@pytest.fixture
def table() -> Iterator[Table]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_state_table(dynamodb, TABLE)
        yield Table(dynamodb, State(dynamodb, TABLE))
