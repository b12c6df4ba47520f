"""`modelwatch enable-bucket-events`: send an existing capture bucket's object events to EventBridge."""

from __future__ import annotations

import click

from modelwatch.ingest.bucket_events import enable_eventbridge_notifications


@click.command("enable-bucket-events")
@click.option("--bucket", required=True, help="The existing capture bucket (the stack's CaptureBucketName).")
@click.option("--region", help="AWS region of the bucket.")
@click.option("--profile", help="AWS profile.")
@click.option("--endpoint-url", help="AWS endpoint (e.g. a local moto server).")
@click.option("--dry-run", is_flag=True, help="Show what would change without writing.")
def enable_bucket_events(
    bucket: str, region: str | None, profile: str | None, endpoint_url: str | None, dry_run: bool
) -> None:
    """Turn on S3 EventBridge notifications for BUCKET, keeping its existing notification configurations.

    Needed once when the stack watches a bucket it does not own (CloudFormation cannot add notifications to it).
    The bucket's Topic/Queue/Lambda configurations are read and written back unchanged, with
    `EventBridgeConfiguration` added. Needs s3:GetBucketNotification and s3:PutBucketNotification.

    \b
    Example:
      modelwatch enable-bucket-events my-capture-bucket
    """
    import boto3

    session = boto3.session.Session(profile_name=profile, region_name=region)
    result = enable_eventbridge_notifications(session.client("s3", endpoint_url=endpoint_url), bucket, dry_run)
    kept = ", ".join(f"{n} {k.removesuffix('Configurations')}" for k, n in result["kept"].items())
    if result["already_enabled"]:
        click.echo(f"{bucket}: EventBridge notifications already on (kept {kept})")
    elif dry_run:
        click.echo(f"{bucket}: would turn on EventBridge notifications (keeping {kept})")
    else:
        click.echo(f"{bucket}: EventBridge notifications on (kept {kept})")
