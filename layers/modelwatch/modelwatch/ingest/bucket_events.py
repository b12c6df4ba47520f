"""Turn on S3 EventBridge notifications for an existing capture bucket without touching its other notifications."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from modelwatch.errors import ConfigError

NOTIFICATION_KEYS = (
    "TopicConfigurations",
    "QueueConfigurations",
    "LambdaFunctionConfigurations",
    "EventBridgeConfiguration",
)


def merged_notification_configuration(current: dict[str, Any]) -> dict[str, Any]:
    """The bucket's notification configuration with EventBridge enabled and every other configuration kept."""
    merged = {key: current[key] for key in NOTIFICATION_KEYS if key in current}
    merged["EventBridgeConfiguration"] = {}
    return merged


def enable_eventbridge_notifications(s3_client: Any, bucket: str, dry_run: bool = False) -> dict[str, Any]:
    """Merge `EventBridgeConfiguration` into the bucket's notifications (S3 replaces the whole configuration on
    put, so the existing Topic/Queue/Lambda configurations are read first and written back unchanged).
    Returns what was found and what was (or would be) written."""
    try:
        current = s3_client.get_bucket_notification_configuration(Bucket=bucket)
    except ClientError as exc:
        raise ConfigError(f"bucket {bucket}: cannot read its notification configuration: {exc}") from exc
    current = {k: v for k, v in current.items() if k in NOTIFICATION_KEYS}
    merged = merged_notification_configuration(current)
    already = "EventBridgeConfiguration" in current
    kept = {key: len(current.get(key, [])) for key in NOTIFICATION_KEYS[:3]}
    if not already and not dry_run:
        try:
            s3_client.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration=merged, SkipDestinationValidation=True
            )
        except ClientError as exc:
            raise ConfigError(f"bucket {bucket}: cannot update its notification configuration: {exc}") from exc
    return {"bucket": bucket, "already_enabled": already, "changed": not already and not dry_run, "kept": kept}
