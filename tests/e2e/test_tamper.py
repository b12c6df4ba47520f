"""The pickle attack replayed through the embedded stack (IAM enforced with SAM's roles, KMS on moto): the ingest
role cannot write models/, and a pickle planted there by anyone without the analysis key never runs."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from modelwatch.clock import SimulatedClock
from modelwatch.config.model import load_model_config
from modelwatch.lake.store import S3Store
from modelwatch.monitors import artifacts
from modelwatch.registry.store import Registry
from modelwatch.signing import KmsSigner
from modelwatch_cli.local.stack import LocalStack
from tests.e2e.breast_cancer import HOURS, START, generate

pytestmark = pytest.mark.slow


class Payload:
    """What an attacker plants: a pickle that runs code when loaded (here it only writes a marker file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _run(stack: LocalStack, name: str, model: str) -> dict[str, object]:
    arn = stack.start_execution("MonitorStateMachine", name, {"model": model, "input_complete": True})
    stack.run_until_idle()
    described = stack.clients["stepfunctions"].describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED", described
    return dict(json.loads(described["output"]))


def _results(stack: LocalStack, output: dict[str, object]) -> bytes:
    key = str(output["results_uri"]).split("/", 3)[3]
    body = stack.clients["s3"].get_object(Bucket=stack.lake_bucket, Key=key)["Body"].read()
    import pandas as pd

    table = pd.read_parquet(io.BytesIO(body)).drop(columns=["run_id"])
    return table.to_json().encode()


def _lake_writer(stack: LocalStack) -> tuple[object, object]:
    """An IAM user who may write anywhere in the lake bucket but holds no KMS permission (an attacker with S3
    access), as S3 and KMS clients."""
    iam = stack.clients["iam"]
    iam.create_user(UserName="lake-writer")
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": f"arn:aws:s3:::{stack.lake_bucket}/*"}],
    }
    iam.put_user_policy(UserName="lake-writer", PolicyName="lake", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName="lake-writer")["AccessKey"]
    keys = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    region = stack.template.region
    return boto3.client("s3", region_name=region, **keys), boto3.client("kms", region_name=region, **keys)


def test_a_planted_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    # Given a model whose first run fitted and stored its baseline, signed with the stack's KMS key
    generated = generate(tmp_path / "input")
    config = load_model_config(generated.config_path)
    config = config.model_copy(
        update={"estimation": config.estimation.model_copy(update={"drift_metrics": False, "top_features": 0})}
    )
    logs = io.StringIO()
    with LocalStack(clock=SimulatedClock(START), log_stream=logs) as stack:
        Registry(S3Store(stack.clients["s3"], stack.lake_bucket), cache_seconds=0).register(
            config, reference=(tmp_path / "input" / "reference.parquet").read_bytes()
        )
        for path in sorted(generated.captures.rglob("*.jsonl")):
            key = f"datacapture/{path.relative_to(generated.captures).as_posix()}"
            stack.put_capture(key, path.read_bytes())
        stack.run_until_idle()
        stack.clock.set(START + timedelta(hours=HOURS + 1))
        first = _run(stack, "first", config.name)
        baseline = artifacts.Artifact(config.name, "performance")
        s3 = stack.clients["s3"]
        genuine = json.loads(s3.get_object(Bucket=stack.lake_bucket, Key=baseline.manifest_key)["Body"].read())
        assert genuine["proof"]["key"] == stack.outputs["ArtifactSigningKeyArn"]

        # And a malicious pickle with a manifest naming its plain sha256 (the attack of issue 12)
        marker = tmp_path / "payload-ran"
        body = pickle.dumps(Payload(marker))
        probe = tmp_path / "probe"
        pickle.loads(pickle.dumps(Payload(probe)))  # the payload runs when unpickled
        assert probe.exists()
        forged = {**{k: v for k, v in genuine.items() if k != "proof"}, "sha256": hashlib.sha256(body).hexdigest()}

        # When the ingest function's role writes them to models/: denied
        assert stack.identities is not None
        ingest = stack.identities.of("IngestCaptureFunction")
        assert ingest is not None
        as_ingest = boto3.client("s3", region_name=stack.template.region, **ingest.client_arguments())
        for key, data in ((baseline.body_key, body), (baseline.manifest_key, json.dumps(forged).encode())):
            with pytest.raises(ClientError) as denied:
                as_ingest.put_object(Bucket=stack.lake_bucket, Key=key, Body=data)
            assert denied.value.response["Error"]["Code"] == "AccessDenied"

        # And when someone who may write the lake but lacks the key writes them (and drops the stored analysis, so
        # the next run needs the baseline): they cannot sign, so the manifest carries no valid proof
        writer_s3, writer_kms = _lake_writer(stack)
        with pytest.raises(Exception, match="AccessDenied"):
            KmsSigner(writer_kms, stack.outputs["ArtifactSigningKeyArn"]).sign(b"anything")
        writer_s3.put_object(Bucket=stack.lake_bucket, Key=baseline.body_key, Body=body)
        writer_s3.put_object(Bucket=stack.lake_bucket, Key=baseline.manifest_key, Body=json.dumps(forged).encode())
        analysis = artifacts.Artifact(config.name, "performance", "analysis", ".parquet")
        writer_s3.put_object(Bucket=stack.lake_bucket, Key=analysis.manifest_key, Body=b"{}")
        second = _run(stack, "second", config.name)

        # Then the next run refused the planted pickle (logged once, by name), refitted, and published the same
        # values; the payload never ran
        assert not marker.exists()
        records = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
        refusals = [r for r in records if r["message"] == "cached baseline refused; refitting"]
        assert len(refusals) == 1 and "unsigned" in refusals[0]["refused"]
        assert _results(stack, second) == _results(stack, first)
        restored = json.loads(s3.get_object(Bucket=stack.lake_bucket, Key=baseline.manifest_key)["Body"].read())
        assert restored["sha256"] != forged["sha256"] and "proof" in restored
