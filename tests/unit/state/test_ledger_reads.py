"""The ledger's read of a run's keys: one BatchGetItem per 100 keys, eventually consistent (half the read units)."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from modelwatch.state import State
from modelwatch.state.keys import ledger_pk


def test_the_ledger_reads_eventually_consistent_in_batches_of_100() -> None:
    # Given 150 keys of a model, two of them published
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    state = State(client, "state")
    wanted = [f"estimated#roc_auc#2026-01-01T{h:02d}:{m:02d}:00Z" for h in range(3) for m in range(50)]
    pk = ledger_pk("loans")
    with Stubber(client) as stub:
        for batch, found in ((sorted(wanted)[:100], wanted[:2]), (sorted(wanted)[100:], [])):
            stub.add_response(
                "batch_get_item",
                {"Responses": {"state": [{"sk": {"S": sk}, "version": {"S": "v1"}} for sk in found]}},
                {
                    "RequestItems": {
                        "state": {
                            "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for sk in batch],
                            "ProjectionExpression": "sk, version",
                            "ConsistentRead": False,
                        }
                    }
                },
            )

        # When the publisher asks which are published
        versions = state.ledger.versions("loans", wanted)

        # Then two calls read them eventually consistent, and the published ones come back with their version
        stub.assert_no_pending_responses()
    assert versions == {wanted[0]: "v1", wanted[1]: "v1"}
