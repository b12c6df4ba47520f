"""moto's IAM access control, switched on for the local stack and completed for the calls modelwatch makes.

The second place (after `adapter`) that knows moto's quirks (pinned moto==5.2.5; tests/integration/local/
test_authorization.py checks each). moto authorises a request against the identity policies of the IAM user or
assumed role whose keys signed it once `INITIAL_NO_AUTH_ACTION_COUNT` is 0, but out of the box it would deny most of
what SAM's policies allow:
- it checks the signing name as the action's prefix: CloudWatch requests become `monitoring:PutMetricData`;
- it checks API operation names, not IAM actions: Lambda's `Invoke` is `lambda:InvokeFunction` in IAM, and DynamoDB
  authorises a transaction per item (`PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem`, `GetItem`);
- only S3, SQS, IAM and STS requests carry their resource; every other request is checked against "*", which no
  statement scoped to a table, topic, state machine, function or KMS key matches;
- S3's `DeleteObjects` is checked as `s3:DeleteObject` on the bucket, so no statement scoped to a key prefix allows
  it (and a denial fails every key of the batch, quietly);
- condition keys are compared only when the caller supplies them (and only `StringEquals`); none are supplied;
- it signs a GET's query parameters again as its body, so a GET with a query never matches (Lambda's ListFunctions),
  and checks a gzip-compressed body's signature on the decompressed body (PutMetricData over 10 KB never matches).
`IAMRequest` below supplies the IAM action, the resource ARN and `cloudwatch:namespace` for DynamoDB, Step Functions,
SNS, Lambda, KMS and CloudWatch (alarms by name), and answers denials in the protocol of the service (a JSON
`AccessDeniedException` for the JSON services, so botocore parses the code); `DeleteObjects` is checked key by key.
Two more seams: the ASL interpreter signs its service integrations with a fixed fake key (here: its state machine's
role), and botocore resolves a client's credentials once, at creation, while the handlers' clients are cached
process-wide (here: clients not given keys explicitly sign with the keys in os.environ at the time of each request,
the invoked function's while it runs, as if it had its own process).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.parsers.expat import ExpatError

import boto3
import botocore.credentials
import xmltodict
from botocore.config import Config
from moto.core import authorization as moto_authorization
from moto.core.exceptions import JsonRESTError
from moto.core.models import botocore_stubber
from moto.iam import access_control
from moto.settings import moto_server_port
from moto.utilities.utils import get_partition

from modelwatch.errors import LocalStackError
from modelwatch_cli.local.iam import Credentials

# Signing names that differ from the IAM action prefix.
IAM_PREFIX = {"monitoring": "cloudwatch"}
# API operations whose IAM action has another name.
IAM_ACTION = {("lambda", "Invoke"): "InvokeFunction", ("lambda", "InvokeAsync"): "InvokeFunction"}
# DynamoDB transactions: the permission each item needs (developer guide, "Using IAM with DynamoDB transactions").
TRANSACTION_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
ASL_PACKAGE = "moto.stepfunctions.parser"


@dataclass(frozen=True)
class Permission:
    """One IAM action on one resource, with the condition keys the request sets."""

    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestView:
    """What a permission is derived from: the signing name, operation and the request as moto received it."""

    service: str
    operation: str
    region: str
    account_id: str
    path: str
    body: bytes
    data: dict[str, Any]
    default_resource: str

    @functools.cached_property
    def json(self) -> dict[str, Any]:
        try:
            parsed = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def param(self, name: str) -> str | None:
        """A query-protocol parameter (SNS)."""
        value = self.data.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        return str(value) if value is not None else None

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{get_partition(self.region)}:{service}:{self.region}:{self.account_id}:{resource}"


def requested_permissions(request: RequestView) -> list[Permission]:
    """The permissions AWS checks for this request (one for most operations, one per item for transactions)."""
    prefix = IAM_PREFIX.get(request.service, request.service)
    action = f"{prefix}:{IAM_ACTION.get((prefix, request.operation), request.operation)}"
    if prefix == "dynamodb":
        return _dynamodb(request, action)
    if prefix == "states":
        body = request.json
        resource = body.get("executionArn") or body.get("stateMachineArn") or body.get("mapRunArn")
        return [Permission(action, str(resource or request.default_resource))]
    if prefix == "sns":
        return [Permission(action, request.param("TopicArn") or request.param("TargetArn") or request.default_resource)]
    if prefix == "lambda":
        return [Permission(action, _lambda_function_arn(request) or request.default_resource)]
    if prefix == "kms":
        return [Permission(action, _kms_key_arn(request) or request.default_resource)]
    if prefix == "cloudwatch":
        return _cloudwatch(request, action)
    return [Permission(action, request.default_resource)]


def _cloudwatch(request: RequestView, action: str) -> list[Permission]:
    """PutMetricData with its namespace; the alarm calls with the alarms they name (DescribeAlarms has no resource)."""
    body = request.json
    if request.operation == "PutMetricData":
        return [Permission(action, "*", {"cloudwatch:namespace": str(body.get("Namespace", ""))})]
    if request.operation == "PutMetricAlarm" and body.get("AlarmName"):
        return [Permission(action, request.arn("cloudwatch", f"alarm:{body['AlarmName']}"))]
    if request.operation == "DeleteAlarms" and body.get("AlarmNames"):
        return [Permission(action, request.arn("cloudwatch", f"alarm:{name}")) for name in body["AlarmNames"]]
    if request.operation in ("TagResource", "UntagResource", "ListTagsForResource") and body.get("ResourceARN"):
        return [Permission(action, str(body["ResourceARN"]))]
    return [Permission(action, request.default_resource)]


def _dynamodb(request: RequestView, action: str) -> list[Permission]:
    body = request.json

    def table(name: Any) -> str:
        return request.arn("dynamodb", f"table/{name}")

    if request.operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            Permission(f"dynamodb:{TRANSACTION_ITEM_ACTIONS[kind]}", table(operation.get("TableName")))
            for item in body.get("TransactItems") or []
            for kind, operation in item.items()
            if kind in TRANSACTION_ITEM_ACTIONS
        ]
    if request.operation in ("BatchWriteItem", "BatchGetItem"):
        return [Permission(action, table(name)) for name in body.get("RequestItems") or {}]
    name = body.get("TableName")
    if name is None:
        return [Permission(action, request.default_resource)]
    index = body.get("IndexName")
    return [Permission(action, table(name) + (f"/index/{index}" if index else ""))]


def _kms_key_arn(request: RequestView) -> str | None:
    """The key a KMS request names (key id or ARN; an alias is checked as the alias' ARN, not its key's)."""
    key = request.json.get("KeyId")
    if not key:
        return None
    key = str(key)
    if key.startswith("arn:"):
        return key
    return request.arn("kms", key if key.startswith("alias/") else f"key/{key}")


def _lambda_function_arn(request: RequestView) -> str | None:
    """`/2015-03-31/functions/<name or ARN>/...[?Qualifier=q]` -> the function (or version, alias) ARN."""
    parts = urlsplit(request.path)
    segments = parts.path.strip("/").split("/")
    if len(segments) < 3 or segments[1] != "functions":
        return None
    name = unquote(segments[2])
    arn = name if name.startswith("arn:") else request.arn("lambda", f"function:{name}")
    qualifier = parse_qs(parts.query).get("Qualifier")
    return f"{arn}:{qualifier[0]}" if qualifier and arn.count(":") == 6 else arn


class AccessDeniedJson(JsonRESTError):
    """A denial in the JSON protocols' shape (`__type`), which botocore reads as the error code."""

    code = 403

    def __init__(self, message: str) -> None:
        super().__init__("AccessDeniedException", message)


class IAMRequest(access_control.IAMRequest):
    """moto's request check with IAM actions, resources and condition keys supplied (see the module docstring)."""

    def check_signature(self) -> None:
        if "gzip" in str(self._headers.get("Content-Encoding", "")):
            # botocore signs the compressed body (PutMetricData over 10 KB) and moto has already decompressed it:
            # the signature cannot be computed again. The access key still names the principal to authorise.
            return
        super().check_signature()

    def _create_aws_request(self) -> Any:
        request = super()._create_aws_request()
        if self._method in ("GET", "HEAD", "DELETE") and not self._body:
            # moto signs its parsed query parameters as the body; a GET's body is empty (Lambda's ListFunctions).
            request.data = b""
        return request

    def check_action_permitted(self, resource: str) -> None:
        service, _, operation = self._action.partition(":")
        if service in ("sts", "iam"):
            super().check_action_permitted(resource)  # moto's own resources, and role trust for AssumeRole
            return
        request = RequestView(
            service=service,
            operation=operation,
            region=self._region,
            account_id=self.account_id,
            path=self._path,
            body=self._body if isinstance(self._body, bytes) else str(self._body or "").encode(),
            data=self._data if isinstance(self._data, dict) else {},
            default_resource=resource,
        )
        policies = self._access_key.collect_policies()
        for permission in requested_permissions(request):
            if not _permitted(policies, permission):
                self._deny(permission)

    def _deny(self, permission: Permission) -> None:
        message = (
            f"User: {self._access_key.arn} is not authorized to perform: {permission.action} on resource: "
            f"{permission.resource} because no identity-based policy allows the {permission.action} action"
        )
        if "x-www-form-urlencoded" in str(self._headers.get("Content-Type", "")):  # query protocol (SNS): XML
            on_resource = f"{permission.action} on resource: {permission.resource}"
            raise access_control.AccessDeniedError(user_arn=self._access_key.arn, action=on_resource)
        raise AccessDeniedJson(message)


def _permitted(policies: list[Any], permission: Permission) -> bool:
    """Allowed by some statement and denied by none (moto's statement evaluation)."""
    allowed = False
    for policy in policies:
        result = access_control.IAMPolicy(policy).is_action_permitted(
            permission.action, permission.resource, None, permission.context or None
        )
        if result == access_control.PermissionResult.DENIED:
            return False
        allowed = allowed or result == access_control.PermissionResult.PERMITTED
    return allowed


def _authorize_normal_action(self: Any, resource: str = "*") -> None:
    self._authenticate_and_authorize_action(IAMRequest, resource)


_S3_AUTHORIZE = moto_authorization.ActionAuthenticatorMixin._authenticate_and_authorize_s3_action


def _authorize_s3_action(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
    """moto's S3 check, with `DeleteObjects` checked as `s3:DeleteObject` on each key it deletes (as AWS does)."""
    keys: list[str | None] = list(_deleted_keys(self)) if key_name is None and bucket_name else []
    for key in keys or [key_name]:
        _S3_AUTHORIZE(self, bucket_name=bucket_name, key_name=key)


def _deleted_keys(response: Any) -> list[str]:
    """The keys of a `DeleteObjects` request (POST ?delete); none for any other request."""
    is_delete = getattr(response, "is_delete_keys", None)
    if not callable(is_delete) or not is_delete():
        return []
    try:
        body = xmltodict.parse(response.body, strip_whitespace=False)
        objects = body["Delete"].get("Object", [])
    except (ExpatError, KeyError, TypeError, AttributeError):
        return []
    objects = objects if isinstance(objects, list) else [objects]
    return [str(o["Key"]) for o in objects if isinstance(o, dict) and "Key" in o]


@functools.cache
def _managed_policies() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    parsed: dict[str, Any] = json.loads(aws_managed_policies_data)
    return parsed


def aws_managed_policy(arn: str) -> dict[str, Any]:
    """The document of an AWS managed policy (`arn:<partition>:iam::aws:policy/<path><name>`), moto's copy of AWS's."""
    name = arn.rsplit("/", 1)[-1]
    data = _managed_policies().get(name)
    if data is None or not arn.endswith(f"{str(data.get('Path', '/')).rstrip('/')}/{name}"):
        raise LocalStackError(f"AWS managed policy {arn} is not known locally")
    document: dict[str, Any] = data["Document"]
    return document


@contextlib.contextmanager
def enforced(role_credentials: Callable[[str], Credentials]) -> Iterator[None]:
    """IAM enforced for every request until exit; state machines sign with `role_credentials(role ARN)`."""
    with contextlib.ExitStack() as stack:
        mixin = moto_authorization.ActionAuthenticatorMixin
        stack.enter_context(_patched(mixin, "_authenticate_and_authorize_normal_action", _authorize_normal_action))
        stack.enter_context(_patched(mixin, "_authenticate_and_authorize_s3_action", _authorize_s3_action))
        for module in _asl_modules_creating_clients():
            stack.enter_context(_patched(module, "boto_client_for", _asl_client_factory(role_credentials)))
        stack.enter_context(_credentials_follow_environment())
        stack.enter_context(moto_authorization.enable_iam_authentication())
        yield


@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _asl_modules_creating_clients() -> list[Any]:
    """Every module of moto's ASL interpreter that imported `boto_client_for` (each holds its own reference)."""
    package = importlib.import_module(ASL_PACKAGE)
    root = Path(package.__file__ or "").parent
    modules = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "boto_client.py" or "boto_client_for" not in path.read_text(encoding="utf-8"):
            continue
        name = ".".join((ASL_PACKAGE, *path.relative_to(root).with_suffix("").parts))
        modules.append(importlib.import_module(name))
    return modules


def _asl_client_factory(role_credentials: Callable[[str], Credentials]) -> Callable[..., Any]:
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        """moto's `boto_client_for`, signing as the execution's role instead of with the key `ak`."""
        role_arn = getattr(state_credentials, "role_arn", None)
        if not role_arn:
            raise LocalStackError(f"a {service} task of a state machine has no role to sign with")
        kwargs: dict[str, Any] = {}
        if not botocore_stubber.enabled:
            kwargs["endpoint_url"] = f"http://localhost:{moto_server_port()}"
        return boto3.client(
            service_name=service,
            region_name=region,
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            ),
            **role_credentials(str(role_arn)).client_arguments(),
            **kwargs,
        )

    return boto_client_for


@contextlib.contextmanager
def _credentials_follow_environment() -> Iterator[None]:
    """Clients not given keys explicitly sign each request with the keys in os.environ at that moment."""
    original = botocore.credentials.Credentials.get_frozen_credentials

    def get_frozen_credentials(self: botocore.credentials.Credentials) -> Any:
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if self.method == "explicit" or not key or not secret:
            return original(self)
        return botocore.credentials.ReadOnlyCredentials(key, secret, os.environ.get("AWS_SESSION_TOKEN"))

    botocore.credentials.Credentials.get_frozen_credentials = get_frozen_credentials
    try:
        yield
    finally:
        botocore.credentials.Credentials.get_frozen_credentials = original
