"""The roles SAM gives each function, state machine and schedule, created on moto, and credentials to act as them.

The policies come from the SAM translator's own output (`translation.translate`), so policy templates such as
`S3CrudPolicy` or `LambdaInvokePolicy`, the managed policies SAM attaches (basic execution, X-Ray, the SQS poller)
and the dead-letter statements are exactly what `sam deploy` creates; their intrinsics are resolved by the local
stack's `Template` (same parameters, conditions and physical names as the resources it creates).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelwatch.errors import LocalStackError
from modelwatch_cli.local.template import Template

ROLE = "AWS::IAM::Role"
INLINE_POLICY_RESOURCES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
# The operator: whoever drives the stack (the CLI, tests, `aws --endpoint-url`), with every permission.
OPERATOR_USER = "modelwatch-local-operator"
ADMINISTRATOR_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# Lambda gives a function's code temporary credentials of its role in these variables.
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@dataclass(frozen=True)
class Credentials:
    """Keys that sign requests as one principal (a session token for an assumed role)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def environment(self) -> dict[str, str]:
        """The variables Lambda sets for a function's code."""
        values = dict(zip(CREDENTIAL_VARIABLES[:2], (self.access_key_id, self.secret_access_key), strict=True))
        if self.session_token is not None:
            values["AWS_SESSION_TOKEN"] = self.session_token
        return values

    def client_arguments(self) -> dict[str, str | None]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


@dataclass
class RoleSpec:
    """One role of the translated template with its policies resolved for the local stack."""

    logical_id: str
    name: str
    arn: str
    trust_policy: dict[str, Any]
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # inline policy name -> document
    managed_policy_arns: list[str] = field(default_factory=list)


@dataclass
class StackRoles:
    """The roles of a stack and who uses which (by the logical id of the function, state machine or schedule)."""

    roles: dict[str, RoleSpec]
    principals: dict[str, str]  # function / state machine / "<target><event>" schedule logical id -> role logical id

    def role_arns(self) -> dict[str, str]:
        """Role ARN by the logical id of its function, state machine or schedule."""
        return {logical_id: self.roles[role].arn for logical_id, role in self.principals.items()}

    def role_of(self, logical_id: str) -> RoleSpec | None:
        role = self.principals.get(logical_id)
        return self.roles[role] if role is not None else None


def stack_roles(template: Template, translated: Mapping[str, Any]) -> StackRoles:
    """The translated template's roles, named and resolved as the local stack names its resources."""
    resources: dict[str, Any] = dict(translated.get("Resources") or {})
    active = {lid: res for lid, res in resources.items() if template.condition_or_true(str(res.get("Condition", "")))}
    roles: dict[str, RoleSpec] = {}
    for logical_id, resource in active.items():
        if resource["Type"] == ROLE:
            name = f"{template.stack_name}-{logical_id}"[:64]
            arn = f"arn:{template.partition}:iam::{template.account_id}:role/{name}"
            # Registered so the template's own references to the generated roles (!Ref XFunctionRole) resolve.
            template.refs[logical_id] = name
            template.attributes[(logical_id, "Arn")] = arn
            roles[logical_id] = RoleSpec(logical_id, name, arn, {})
    for logical_id, spec in roles.items():
        props = active[logical_id].get("Properties") or {}
        spec.trust_policy = _resolved(template, props["AssumeRolePolicyDocument"], logical_id)
        spec.managed_policy_arns = [
            str(a) for a in _resolved(template, props.get("ManagedPolicyArns") or [], logical_id)
        ]
        for policy in props.get("Policies") or []:
            spec.policies[str(policy["PolicyName"])] = _resolved(template, policy["PolicyDocument"], logical_id)
    for logical_id, resource in active.items():
        if resource["Type"] not in INLINE_POLICY_RESOURCES:
            continue
        props = resource.get("Properties") or {}
        document = _resolved(template, props["PolicyDocument"], logical_id)
        for role_name in _resolved(template, props.get("Roles") or [], logical_id):
            target = next((s for s in roles.values() if s.name == role_name), None)
            if target is None:
                raise LocalStackError(f"{logical_id}: attaches to {role_name}, which is not a role of the stack")
            target.policies[str(props.get("PolicyName") or logical_id)] = document
    return StackRoles(roles, _principals(active, roles))


def _principals(resources: Mapping[str, Any], roles: Mapping[str, RoleSpec]) -> dict[str, str]:
    principals: dict[str, str] = {}
    for logical_id, resource in resources.items():
        props = resource.get("Properties") or {}
        kind = resource["Type"]
        reference = None
        if kind == "AWS::Lambda::Function":
            reference = props.get("Role")
        elif kind == "AWS::StepFunctions::StateMachine":
            reference = props.get("RoleArn")
        elif kind == "AWS::Scheduler::Schedule":
            reference = (props.get("Target") or {}).get("RoleArn")
        role = _role_reference(reference)
        if role is not None and role in roles:
            principals[logical_id] = role
    return principals


def _role_reference(value: Any) -> str | None:
    """The role logical id in `!GetAtt XRole.Arn` (how SAM wires its generated roles); None for anything else."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        parts = target if isinstance(target, list) else str(target).split(".", 1)
        if len(parts) == 2 and parts[1] == "Arn":
            return str(parts[0])
    return None


def _resolved(template: Template, value: Any, owner: str) -> Any:
    try:
        return template.resolve(value)
    except Exception as exc:  # a reference the local stack cannot resolve names the role it belongs to
        raise LocalStackError(f"{owner}: cannot resolve its policies locally: {exc}") from exc


def create_roles(iam: Any, stack: StackRoles, managed_policy: Callable[[str], dict[str, Any]]) -> None:
    """Create every role with its inline policies; AWS managed policies become inline copies of their documents.

    moto only knows AWS managed policies when it loads all ~1,600 of them into every account (seconds per stack),
    so each one a role names is put on the role inline, with the document AWS publishes (moto's copy).
    """
    for spec in stack.roles.values():
        iam.create_role(RoleName=spec.name, AssumeRolePolicyDocument=json.dumps(spec.trust_policy))
        for name, document in spec.policies.items():
            iam.put_role_policy(RoleName=spec.name, PolicyName=name, PolicyDocument=json.dumps(_versioned(document)))
        for arn in spec.managed_policy_arns:
            iam.put_role_policy(
                RoleName=spec.name,
                PolicyName=f"aws-managed.{arn.rsplit('/', 1)[-1]}",
                PolicyDocument=json.dumps(managed_policy(arn)),
            )


def _versioned(document: dict[str, Any]) -> dict[str, Any]:
    """SAM's policy templates carry no Version; IAM then reads them as 2008-10-17, moto refuses them.

    The two versions differ only in policy variables (`${aws:username}`), which no policy template uses.
    """
    return document if "Version" in document else {"Version": "2012-10-17", **document}


def create_operator(iam: Any) -> Credentials:
    """An IAM user allowed everything: the identity of the stack itself and of whoever drives it."""
    iam.create_user(UserName=OPERATOR_USER)
    iam.put_user_policy(
        UserName=OPERATOR_USER, PolicyName="administrator", PolicyDocument=json.dumps(ADMINISTRATOR_POLICY)
    )
    key = iam.create_access_key(UserName=OPERATOR_USER)["AccessKey"]
    return Credentials(str(key["AccessKeyId"]), str(key["SecretAccessKey"]))


def assume(sts: Any, role: RoleSpec, session_name: str) -> Credentials:
    """Temporary credentials of `role`, as the service that runs the function or workflow receives them."""
    response = sts.assume_role(RoleArn=role.arn, RoleSessionName=session_name[:64])
    credentials = response["Credentials"]
    return Credentials(
        str(credentials["AccessKeyId"]), str(credentials["SecretAccessKey"]), str(credentials["SessionToken"])
    )


@dataclass
class Identities:
    """Who signs what on the local stack: the operator, and a session of every role of the stack."""

    operator: Credentials
    roles: StackRoles
    sessions: dict[str, Credentials]  # role ARN -> its temporary credentials

    def of(self, logical_id: str) -> Credentials | None:
        """The credentials of a function's, state machine's or schedule's role (None: it has none)."""
        role = self.roles.role_of(logical_id)
        return self.sessions[role.arn] if role is not None else None

    def of_role_arn(self, arn: str) -> Credentials:
        if arn not in self.sessions:
            raise LocalStackError(f"{arn} is not a role of the local stack")
        return self.sessions[arn]


def set_up_identities(
    iam: Any, sts: Any, template: Template, translated: Mapping[str, Any], managed_policy: Callable[[str], Any]
) -> Identities:
    """The operator user, every role of the translated template, and one session per role (assumed as its service)."""
    operator = create_operator(iam)
    roles = stack_roles(template, translated)
    create_roles(iam, roles, managed_policy)
    sessions = {spec.arn: assume(sts, spec, spec.name) for spec in roles.roles.values()}
    return Identities(operator, roles, sessions)
