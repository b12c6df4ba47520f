"""Publishing: CloudWatch metrics with a ledger, SNS notifications, HTML reports, per-model alarms."""
