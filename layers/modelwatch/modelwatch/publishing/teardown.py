"""Teardown of what CloudFormation does not own: `python -m modelwatch.publishing.teardown --stack NAME`.

Per-model alarms are created by `modelwatch register` at runtime, so `sam delete` leaves them behind; run this
before or after deleting the stack (it only touches alarms tagged with that stack).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelwatch.publishing.teardown", description=__doc__)
    parser.add_argument("--stack", required=True, help="the stack name the alarms were created for")
    parser.add_argument("--region", default=None, help="AWS region (default: the AWS CLI/SDK default)")
    args = parser.parse_args(argv)

    import boto3

    from modelwatch.publishing.alarms import delete_all_model_alarms

    deleted = delete_all_model_alarms(boto3.client("cloudwatch", region_name=args.region), args.stack)
    for name in deleted:
        print(f"deleted alarm {name}")
    print(f"{len(deleted)} per-model alarm(s) of stack {args.stack} deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
