"""Publishing: CloudWatch metrics once (a DynamoDB ledger), 0/1 alerts, notifications that say why, per-model alarms.

The HTML report is written by estimation; publishing links to it.
"""
