"""Security posture of template.yaml: logs, telemetry opt-out, least privilege, encryption, public access, TLS."""

from __future__ import annotations

from typing import Any

import pytest

from checks.asl import load_template
from modelwatch.constants import ALLOCATOR_ENVIRONMENT
from tests.helpers import ROOT

FUNCTION = "AWS::Serverless::Function"
STATE_MACHINE = "AWS::Serverless::StateMachine"
# Actions AWS documents without resource-level permissions: Resource "*" is the only option.
STAR_RESOURCE_ACTIONS = {
    "cloudwatch:PutMetricData",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every inline IAM statement of the template: SAM Policies statements and IAM policy resources."""
    found = []
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        for policy in props.get("Policies", []) if res["Type"] in (FUNCTION, STATE_MACHINE) else []:
            if isinstance(policy, dict) and "Statement" in policy:
                found += [(name, st) for st in policy["Statement"]]
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found += [(name, st) for st in props["PolicyDocument"]["Statement"]]
        if res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found += [(name, st) for st in policy["PolicyDocument"]["Statement"]]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_function_has_a_log_group_with_retention(template: dict[str, Any]) -> None:
    # Given the template's log groups by name
    groups = _of_type(template, "AWS::Logs::LogGroup")
    by_name = {str(g["Properties"]["LogGroupName"]): g["Properties"] for g in groups.values()}
    # Then every function's default log group is created by the stack, with the retention parameter
    for name in _of_type(template, FUNCTION):
        props = by_name.get(str({"Sub": f"/aws/lambda/${{{name}}}"}))
        assert props is not None, f"{name}: no AWS::Logs::LogGroup /aws/lambda/${{{name}}}"
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    # And no log group of the stack keeps logs forever
    for name, group in groups.items():
        assert "RetentionInDays" in group["Properties"], name


def test_every_function_environment_disables_nannyml_telemetry(template: dict[str, Any]) -> None:
    globals_env = template["Globals"]["Function"]["Environment"]["Variables"]
    for name, res in _of_type(template, FUNCTION).items():
        # resolved environment: Globals merged with the function's own variables (the function's win)
        own = res["Properties"].get("Environment", {}).get("Variables", {})
        env = {**globals_env, **own}
        assert env.get("NML_DISABLE_USAGE_LOGGING") not in (None, ""), name


def test_estimator_openmp_threads_do_not_spin(template: dict[str, Any]) -> None:
    # Spin-waiting OpenMP threads made a second LightGBM fit in a warm container ~50x slower.
    env = template["Resources"]["AnalyseFunction"]["Properties"]["Environment"]["Variables"]
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "OMP_WAIT_POLICY=PASSIVE" in (ROOT / "functions" / "analyse" / "Dockerfile").read_text()


def test_analyse_allocators_return_freed_memory_where_the_monitors_run(template: dict[str, Any]) -> None:
    env = template["Resources"]["AnalyseFunction"]["Properties"]["Environment"]["Variables"]
    dockerfile = (ROOT / "functions" / "analyse" / "Dockerfile").read_text()
    for name, value in ALLOCATOR_ENVIRONMENT.items():
        assert env[name] == value
        assert f"{name}={value}" in dockerfile


def test_tracing_is_on_for_functions_and_state_machines(template: dict[str, Any]) -> None:
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    for name, res in _of_type(template, FUNCTION).items():
        assert res["Properties"].get("Tracing", "Active") == "Active", name
    for name, res in _of_type(template, STATE_MACHINE).items():
        assert res["Properties"]["Tracing"] == {"Enabled": True}, name


def test_zip_functions_and_layers_target_python312(template: dict[str, Any]) -> None:
    default = template["Globals"]["Function"].get("Runtime")
    for name, res in _of_type(template, FUNCTION).items():
        props = res["Properties"]
        if props.get("PackageType") == "Image":
            continue
        assert props.get("Runtime", default) == "python3.12", name
        assert res["Metadata"]["BuildMethod"] == "makefile", name
        assert (ROOT / props["CodeUri"] / "Makefile").is_file(), name
    for name, res in _of_type(template, "AWS::Serverless::LayerVersion").items():
        assert res["Properties"]["CompatibleRuntimes"] == ["python3.12"], name


def test_no_iam_statement_allows_every_action_or_unscoped_resources(template: dict[str, Any]) -> None:
    statements = _statements(template)
    assert statements
    for owner, st in statements:
        if st.get("Effect") != "Allow":
            continue
        actions = _as_list(st["Action"])
        assert all(a != "*" and not str(a).endswith(":*") for a in actions), (owner, actions)
        if "*" in _as_list(st["Resource"]):
            assert set(actions) <= STAR_RESOURCE_ACTIONS, (owner, actions)
            if "cloudwatch:PutMetricData" in actions:
                assert "cloudwatch:namespace" in st["Condition"]["StringEquals"], owner


def test_no_broad_managed_policies(template: dict[str, Any]) -> None:
    for name, res in template["Resources"].items():
        if res["Type"] not in (FUNCTION, STATE_MACHINE):
            continue
        for policy in res["Properties"].get("Policies", []):
            assert not isinstance(policy, str), f"{name}: managed policy {policy}"
            assert "CloudWatchPutMetricPolicy" not in policy, f"{name}: PutMetricData without a namespace condition"


def test_state_machines_invoke_only_their_template_functions(template: dict[str, Any]) -> None:
    functions = set(_of_type(template, FUNCTION))
    for name, res in _of_type(template, STATE_MACHINE).items():
        invoked = set()
        for policy in res["Properties"]["Policies"]:
            if isinstance(policy, dict) and "LambdaInvokePolicy" in policy:
                invoked.add(policy["LambdaInvokePolicy"]["FunctionName"]["Ref"])
            for st in policy.get("Statement", []) if isinstance(policy, dict) else []:
                assert not any(str(a).startswith("lambda:") for a in _as_list(st["Action"])), name
        substituted = {
            value["GetAtt"].split(".")[0]
            for value in res["Properties"].get("DefinitionSubstitutions", {}).values()
            if isinstance(value, dict) and "GetAtt" in value and value["GetAtt"].split(".")[0] in functions
        }
        assert invoked <= functions, name
        assert invoked == substituted, (
            f"{name}: may invoke {sorted(invoked)}, its definition uses {sorted(substituted)}"
        )


def test_kms_key_policies_cover_every_function_role(template: dict[str, Any]) -> None:
    # With a customer managed key, every function must be able to use it, or reads of the lake fail at runtime.
    roles = {ref["Ref"] for ref in template["Resources"]["DataKeyAccessPolicy"]["Properties"]["Roles"]}
    assert {f"{name}Role" for name in _of_type(template, FUNCTION)} <= roles


def test_queues_are_encrypted_and_have_dead_letter_queues(template: dict[str, Any]) -> None:
    queues = _of_type(template, "AWS::SQS::Queue")
    dead_letter = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["GetAtt"].split(".")[0]
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    }
    dead_letter.add(template["Globals"]["Function"]["DeadLetterQueue"]["TargetArn"]["GetAtt"].split(".")[0])
    dead_letter |= {
        _getatt_target(target["DeadLetterConfig"]["Arn"])
        for rule in _of_type(template, "AWS::Events::Rule").values()
        for target in rule["Properties"]["Targets"]
        if "DeadLetterConfig" in target
    }
    for name, queue in queues.items():
        for has_key in (True, False):
            properties = _with_data_key(queue["Properties"], has_key)
            # Encrypted either way, never with the AWS managed aws/sqs key (EventBridge cannot send to such queues).
            encrypted = properties.get("KmsMasterKeyId") or properties.get("SqsManagedSseEnabled") is True
            assert encrypted, f"{name}: not encrypted (customer key given: {has_key})"
            assert properties.get("KmsMasterKeyId") != "alias/aws/sqs", f"{name}: EventBridge cannot use aws/sqs"
        assert name in dead_letter or "RedrivePolicy" in queue["Properties"], f"{name}: no dead-letter queue"
    assert dead_letter <= set(queues)
    topics = _of_type(template, "AWS::SNS::Topic")
    assert _with_data_key(topics["NotificationsTopic"]["Properties"], False).get("KmsMasterKeyId") == "alias/aws/sns"
    for name, topic in topics.items():
        assert _with_data_key(topic["Properties"], True).get("KmsMasterKeyId") == {"Ref": "DataKmsKeyArn"}, name
    # CloudWatch alarm actions cannot publish to a topic under the AWS managed aws/sns key.
    assert "KmsMasterKeyId" not in _with_data_key(topics["AlarmsTopic"]["Properties"], False)


def _with_data_key(value: Any, has_key: bool) -> Any:
    """Resolve `!If [HasDataKmsKey, a, b]` for one branch; `!Ref AWS::NoValue` drops the property."""
    if isinstance(value, dict):
        if set(value) == {"If"} and value["If"][0] == "HasDataKmsKey":
            return _with_data_key(value["If"][1 if has_key else 2], has_key)
        resolved = {k: _with_data_key(v, has_key) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v != {"Ref": "AWS::NoValue"}}
    return value


def test_buckets_block_public_access_enforce_tls_and_encrypt(template: dict[str, Any]) -> None:
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in _of_type(template, "AWS::S3::BucketPolicy").values()
    }
    for name, bucket in _of_type(template, "AWS::S3::Bucket").items():
        props = bucket["Properties"]
        block = props["PublicAccessBlockConfiguration"]
        assert all(
            block[k] is True
            for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        ), name
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}], name
        deny_tls = [
            st
            for st in policies.get(name, [])
            if st["Effect"] == "Deny" and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert deny_tls, f"{name}: no TLS-only bucket policy"
        assert deny_tls[0]["Resource"] == [{"GetAtt": f"{name}.Arn"}, {"Sub": f"${{{name}.Arn}}/*"}], name
        if name != "AccessLogsBucket":
            assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}, name


def test_lake_is_versioned_with_retention_per_area(template: dict[str, Any]) -> None:
    lake = template["Resources"]["LakeBucket"]["Properties"]
    assert lake["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r.get("Prefix"): r for r in lake["LifecycleConfiguration"]["Rules"]}
    expected = {
        "captures/": "CaptureRetentionDays",
        "ground_truth/": "GroundTruthRetentionDays",
        "quarantine/": "QuarantineRetentionDays",
        "results/": "ResultsRetentionDays",
    }
    for prefix, parameter in expected.items():
        assert rules[prefix]["ExpirationInDays"] == {"Ref": parameter}, prefix
        assert rules[prefix]["Status"] == "Enabled"


def test_samconfig_has_two_environments_whose_overrides_name_template_parameters(template: dict[str, Any]) -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    stacks = {env: config[env]["deploy"]["parameters"]["stack_name"] for env in ("default", "prod")}
    assert len(set(stacks.values())) == 2, stacks
    for env in stacks:
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM", env  # no CAPABILITY_NAMED_IAM: no named roles
        for override in deploy["parameter_overrides"]:
            key, _, value = override.partition("=")
            assert key in template["Parameters"] and value, (env, override)


def test_start_monitor_may_read_the_runs_it_retries(template: dict[str, Any]) -> None:
    # The scheduled run reads a failed run's status before retrying it under -r<n> (workflow/trigger.py);
    # StepFunctionsExecutionPolicy grants only StartExecution, so DescribeExecution needs its own statement.
    statements = [st for name, st in _statements(template) if name == "StartMonitorFunction"]
    describe = [st for st in statements if "states:DescribeExecution" in _as_list(st["Action"])]
    assert describe, "StartMonitorFunction has no states:DescribeExecution"
    resource = describe[0]["Resource"]
    assert ":execution:${MonitorStateMachine.Name}:*" in str(resource)


def test_schedules_do_not_clash_with_a_second_stack_in_the_account(template: dict[str, Any]) -> None:
    # SAM names a ScheduleV2 schedule after its logical ID in the default schedule group unless told otherwise,
    # so `sam deploy --config-env prod` next to the default stack would fail with "already exists".
    schedules = [
        (name, event["Properties"])
        for name, res in template["Resources"].items()
        for event in res.get("Properties", {}).get("Events", {}).values()
        if event["Type"] == "ScheduleV2"
    ]
    assert schedules
    for name, props in schedules:
        named = props.get("Name")
        assert props.get("OmitName") is True or (named and "AWS::StackName" in str(named)), name


def _getatt_target(value: Any) -> str:
    """The logical ID of a `!GetAtt X.Arn` (load_template gives {"GetAtt": "X.Arn"})."""
    return str(value["GetAtt"]).split(".")[0]


def test_undeliverable_events_go_to_an_alarmed_dead_letter_queue(template: dict[str, Any]) -> None:
    # EventBridge drops an event after 24 h of retries (at once for a non-retriable error such as a key policy
    # without events.amazonaws.com) unless its target has a DLQ; every rule target and schedule gets one.
    resources = template["Resources"]
    dlqs: dict[str, set[str]] = {}
    for name in _of_type(template, "AWS::Events::Rule"):
        for target in resources[name]["Properties"]["Targets"]:
            assert "DeadLetterConfig" in target, f"{name} target {target['Id']} has no DeadLetterConfig"
            dlqs.setdefault(_getatt_target(target["DeadLetterConfig"]["Arn"]), set()).add(name)
    for name, res in resources.items():
        for event_name, event in res.get("Properties", {}).get("Events", {}).items():
            if event["Type"] == "ScheduleV2":
                assert "DeadLetterConfig" in event["Properties"], f"{name}.{event_name} has no DeadLetterConfig"
                dlqs.setdefault(_getatt_target(event["Properties"]["DeadLetterConfig"]["Arn"]), set())
    # (metric math alarms have no Namespace of their own: they watch no DLQ)
    alarms = [a for a in _of_type(template, "AWS::CloudWatch::Alarm").values() if "Namespace" in a["Properties"]]
    for queue, rules in dlqs.items():
        # The queue does not use the data key (the failure it catches may be that key's policy) ...
        assert resources[queue]["Properties"].get("SqsManagedSseEnabled") is True
        assert "KmsMasterKeyId" not in resources[queue]["Properties"]
        # ... its policy lets exactly the rules that use it send to it ...
        [policy] = [
            res["Properties"]
            for res in _of_type(template, "AWS::SQS::QueuePolicy").values()
            if {"Ref": queue} in res["Properties"]["Queues"]
        ]
        [statement] = policy["PolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        allowed = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
        assert {_getatt_target(arn) for arn in _as_list(allowed)} == rules
        # ... and a message waiting in it raises an alarm
        assert any(
            a["Properties"]["Namespace"] == "AWS/SQS"
            and a["Properties"]["Dimensions"][0]["Value"] == {"GetAtt": f"{queue}.QueueName"}
            for a in alarms
        ), f"no alarm on {queue}"
    # And every rule's failed deliveries raise an alarm of their own
    for name in _of_type(template, "AWS::Events::Rule"):
        assert any(
            a["Properties"]["Namespace"] == "AWS/Events"
            and a["Properties"]["MetricName"] == "FailedInvocations"
            and a["Properties"]["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": name}}]
            for a in alarms
        ), f"no FailedInvocations alarm for {name}"


def _ignore_patterns(path: Any) -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_estimator_build_context_is_the_same_under_either_docker_builder() -> None:
    # BuildKit reads Dockerfile.dockerignore; SAM's default builder reads only the context root's .dockerignore,
    # which without this file would send .venv (1.6 GB), .git and demo output to the daemon.
    estimate = ROOT / "functions" / "analyse"
    root_patterns = _ignore_patterns(ROOT / ".dockerignore")
    assert root_patterns == _ignore_patterns(estimate / "Dockerfile.dockerignore")
    assert root_patterns[:2] == ["*", ".*"], "everything is excluded unless named"
    # LightGBM needs the system OpenMP runtime in the image.
    assert "dnf install -y libgomp" in (estimate / "Dockerfile").read_text()


# AWS's length limits of the names the template sets from the stack name (CloudFormation shortens the names it
# generates itself, not these).
NAME_LIMITS = {"Name": 80, "StateMachineName": 80, "LogGroupName": 512, "DashboardName": 255}
LONGEST_STACK_NAME = 60  # the README's first-deploy checklist promises this much


def test_names_built_from_the_stack_name_fit_aws_limits_for_a_60_character_stack(template: dict[str, Any]) -> None:
    stack = "s" * LONGEST_STACK_NAME
    checked = []
    for name, res in template["Resources"].items():
        for prop, limit in NAME_LIMITS.items():
            value = res.get("Properties", {}).get(prop)
            if isinstance(value, dict) and "Sub" in value and "${AWS::StackName}" in str(value["Sub"]):
                physical = str(value["Sub"]).replace("${AWS::StackName}", stack)
                assert "${" not in physical, f"{name}.{prop}: only the stack name is expected in {value}"
                assert len(physical) <= limit, f"{name}.{prop}: {len(physical)} > {limit} characters"
                checked.append(f"{name}.{prop}")
    assert {"FleetStateMachine.Name", "ModelwatchDashboard.DashboardName"} <= set(checked)


# The lake prefixes each function that is not the analysis may write (Put/Delete); none of them is models/.
LAKE_WRITE_PREFIXES = {
    "IngestCaptureFunction": {"captures/", "quarantine/"},
    "IngestGroundTruthFunction": {"ground_truth/", "quarantine/"},
    "CompactFunction": {"captures/", "ground_truth/", "manifests/"},
}
S3_WRITE_TEMPLATES = {"S3CrudPolicy", "S3WritePolicy", "S3FullAccessPolicy"}


def _lake_prefix(resource: Any) -> str:
    """`captures/` of `!Sub arn:${AWS::Partition}:s3:::${LakeBucket}/captures/*`; the whole text otherwise."""
    text = str(resource.get("Sub") if isinstance(resource, dict) else resource)
    marker = "${LakeBucket}/"
    return text.split(marker, 1)[1].removesuffix("*") if marker in text else text


def test_only_the_analysis_may_write_the_models_prefix(template: dict[str, Any]) -> None:
    # Given the functions that write the lake besides the analysis (their roles are the lake's other writers)
    for name, allowed in LAKE_WRITE_PREFIXES.items():
        policies = template["Resources"][name]["Properties"]["Policies"]
        # Then none has a policy template that writes the whole lake bucket
        for policy in policies:
            for kind in set(policy) & S3_WRITE_TEMPLATES:
                assert policy[kind]["BucketName"] != {"Ref": "LakeBucket"}, f"{name}: {kind} on the lake"
        # And every S3 write it may do is scoped to its own prefixes, none of them models/ (where baselines are)
        written = set()
        for policy in policies:
            for st in policy.get("Statement", []):
                actions = _as_list(st["Action"])
                if st.get("Effect") == "Allow" and any(a in ("s3:PutObject", "s3:DeleteObject") for a in actions):
                    assert all(a in ("s3:PutObject", "s3:DeleteObject") for a in actions), (name, actions)
                    written |= {_lake_prefix(r) for r in _as_list(st["Resource"])}
        assert written == allowed, name
        assert not any(p.startswith("models") or p in ("", "*") for p in written), name


def test_only_the_analysis_role_may_sign_artifacts(template: dict[str, Any]) -> None:
    key = template["Resources"]["ArtifactSigningKey"]["Properties"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    analysis = {"GetAtt": "AnalyseFunctionRole.Arn"}
    mac_actions = {"kms:GenerateMac", "kms:VerifyMac"}
    for st in key["KeyPolicy"]["Statement"]:
        actions = set(_as_list(st["Action"]))
        assert not {"kms:*", "*"} & actions, st["Sid"]
        if st["Effect"] == "Allow" and actions & mac_actions:
            assert st["Principal"] == {"AWS": analysis}, st["Sid"]
        if st["Effect"] == "Allow":
            assert not any(a.startswith(("kms:Generate", "kms:Verify")) for a in actions - mac_actions), st["Sid"]
    (deny,) = [st for st in key["KeyPolicy"]["Statement"] if st["Effect"] == "Deny"]
    assert deny["Action"] == "kms:GenerateMac"
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == analysis
    # And the analysis function (only it) is told the key, and its role may use it
    use = template["Resources"]["ArtifactKeyUsePolicy"]["Properties"]
    assert use["Roles"] == [{"Ref": "AnalyseFunctionRole"}]
    for name, res in _of_type(template, FUNCTION).items():
        variables = res["Properties"].get("Environment", {}).get("Variables", {})
        assert ("ARTIFACT_KEY_ID" in variables) == (name == "AnalyseFunction"), name


def test_ingest_may_decrypt_the_input_buckets_keys_and_nothing_else_may(template: dict[str, Any]) -> None:
    # Given the capture bucket's key and a batch transform output bucket's key of its own (both optional)
    input_keys = [{"Ref": "CaptureKmsKeyArn"}, {"Ref": "BatchTransformOutputKmsKeyArn"}]
    policies = {
        name: res
        for name, res in _of_type(template, "AWS::IAM::Policy").items()
        if any(st["Resource"] in input_keys for st in res["Properties"]["PolicyDocument"]["Statement"])
    }
    # Then each is granted only when its parameter is set, on that key alone, to the functions that read its bucket
    expected = {
        "CaptureKeyReadPolicy": ("HasCaptureKmsKey", "CaptureKmsKeyArn", ["IngestCaptureFunctionRole",
                                                                        "IngestGroundTruthFunctionRole"]),
        "BatchTransformOutputKeyReadPolicy": ("HasBatchTransformOutputKmsKey", "BatchTransformOutputKmsKeyArn",
                                              ["IngestCaptureFunctionRole"]),
    }  # fmt: skip
    assert set(policies) == set(expected)
    for name, (condition, parameter, roles) in expected.items():
        assert policies[name]["Condition"] == condition
        assert template["Conditions"][condition] == {"Not": [{"Equals": [{"Ref": parameter}, ""]}]}
        (statement,) = policies[name]["Properties"]["PolicyDocument"]["Statement"]
        assert (statement["Action"], statement["Resource"]) == (["kms:Decrypt"], {"Ref": parameter})
        assert policies[name]["Properties"]["Roles"] == [{"Ref": role} for role in roles]


def test_analyse_concurrency_is_capped_only_when_asked(template: dict[str, Any]) -> None:
    # A fleet's hourly burst of Analyse calls can take the account's concurrency; the cap is a parameter, off by
    # default (an account at the default quota cannot reserve any), and 0 leaves the property out entirely.
    parameter = template["Parameters"]["AnalyseReservedConcurrency"]
    assert parameter["Default"] == 0 and parameter["MinValue"] == 0
    assert template["Conditions"]["HasAnalyseReservedConcurrency"] == {
        "Not": [{"Equals": [{"Ref": "AnalyseReservedConcurrency"}, 0]}]
    }
    reserved = template["Resources"]["AnalyseFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {
        "If": ["HasAnalyseReservedConcurrency", {"Ref": "AnalyseReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    # The fleet's batch function has room for StartExecution's throttling backoff
    assert template["Resources"]["StartMonitorFunction"]["Properties"]["Timeout"] >= 300
