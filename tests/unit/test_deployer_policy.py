"""docs/deployer-iam-policy.json, the deploy role's permissions, against what the code calls: every AWS
resource type the prod program registers (under Pulumi's mocks), every provider function it calls, every
boto3 call the dynamic providers make, and iam:PassRole for each service the stack's roles are for."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

from tests.support import prod_program
from tests.support.pulumi_harness import ROOT

POLICY = ROOT / "docs" / "deployer-iam-policy.json"

# Pulumi AWS module (and, where one module spans services, module/resource) -> IAM service prefix.
SERVICE = {
    "cloudwatch/eventRule": "events",
    "cloudwatch/eventTarget": "events",
    "cloudwatch/logGroup": "logs",
    "cloudwatch/dashboard": "cloudwatch",
    "cloudwatch/metricAlarm": "cloudwatch",
    "dlm": "dlm",
    "ebs": "ec2",
    "ec2": "ec2",
    "vpc": "ec2",
    "ecr": "ecr",
    "iam/role": "iam",
    "iam/rolePolicy": "iam",
    "iam/rolePolicyAttachment": "iam",
    "iam/instanceProfile": "iam",
    "lambda": "lambda",
    "lb": "elasticloadbalancing",
    "rds": "rds",
    "route53": "route53",
    "s3": "s3",
    "sns": "sns",
    "ssm": "ssm",
}
# What creating one such resource needs at least, beyond the service prefix.
ACTIONS = {
    "aws:iam/role:Role": ["iam:CreateRole", "iam:DeleteRole", "iam:GetRole"],
    "aws:iam/rolePolicy:RolePolicy": ["iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRolePolicy"],
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
    "aws:iam/instanceProfile:InstanceProfile": ["iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile"],
    "aws:lambda/invocation:Invocation": ["lambda:InvokeFunction"],
}
# The provider functions (data sources) the program calls, by the API each one calls.
FUNCTIONS = {
    "aws:ec2/getAmi:getAmi": "ec2:DescribeImages",
    "aws:ecr/getImage:getImage": "ecr:DescribeImages",
    "aws:index/getCallerIdentity:getCallerIdentity": "sts:GetCallerIdentity",
    "aws:index/getPartition:getPartition": None,  # answered by the provider itself
}
DYNAMIC_PROVIDER_SOURCES = ("components/rollout", "components/aws")


@cache
def statements() -> list[dict[str, Any]]:
    return json.loads(POLICY.read_text())["Statement"]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def granted(action: str) -> bool:
    return any(
        s["Effect"] == "Allow" and any(fnmatchcase(action.lower(), a.lower()) for a in _listed(s["Action"]))
        for s in statements()
    )


@cache
def registered() -> tuple[Any, ...]:
    return tuple(prod_program.execute().run.registrations)


def service_of(type_: str) -> str:
    module_resource = type_.split(":")[1]
    key = module_resource if module_resource in SERVICE else module_resource.split("/")[0]
    assert key in SERVICE, f"{type_}: add its IAM service to SERVICE and the policy"
    return SERVICE[key]


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# Client methods that are no AWS API of their own (a waiter polls the API it names, called elsewhere too).
NOT_AN_API = {"exceptions", "get_waiter", "get_paginator", "meta"}


def boto3_calls() -> set[str]:
    """service:Action for every call on a boto3 client in the dynamic providers' code: a name assigned from
    `….client("svc"…)`, and `client`/`self.client` in a module that makes clients of one service."""
    calls = set()
    for folder in DYNAMIC_PROVIDER_SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text()
            clients = dict(re.findall(r"\b(\w+) = [^\n]*\.client\(\s*\"(\w+)\"", text))
            services = set(re.findall(r"\.client\(\s*\"(\w+)\"", text))
            if len(services) == 1:
                (service,) = services
                clients.setdefault("client", service)
            for name, service in clients.items():
                for method in set(re.findall(rf"\b{name}\.(\w+)\(", text)) - NOT_AN_API:
                    calls.add(f"{service}:{camel(method)}")
    return calls


def test_every_resource_type_the_prod_program_registers_is_granted() -> None:
    types = {r.type for r in registered() if r.type.startswith("aws:")}
    assert "aws:rds/instance:Instance" in types and "aws:lambda/invocation:Invocation" in types
    for type_ in sorted(types):
        service = service_of(type_)
        if service != "iam":
            assert granted(f"{service}:Create{type_.rsplit(':', 1)[1]}") or granted(f"{service}:*"), type_
        for action in ACTIONS.get(type_, []):
            assert granted(action), (type_, action)


def test_every_provider_function_the_program_calls_is_granted() -> None:
    assert set(prod_program.CALLS) <= set(FUNCTIONS), "a new data source: add the API it calls"
    for action in filter(None, FUNCTIONS.values()):
        assert granted(action), action


def test_every_boto3_call_of_the_dynamic_providers_is_granted() -> None:
    calls = boto3_calls()
    assert {"ssm:SendCommand", "ssm:GetCommandInvocation"} <= calls
    for action in sorted(calls):
        assert granted(action), action


def test_pass_role_covers_exactly_the_services_the_stacks_roles_are_for() -> None:
    services = set()
    for r in registered():
        if r.type == "aws:iam/role:Role":
            for statement in json.loads(r.inputs["assumeRolePolicy"])["Statement"]:
                services |= set(_listed(statement["Principal"]["Service"]))
    assert services == {"lambda.amazonaws.com", "ec2.amazonaws.com", "dlm.amazonaws.com"}
    (pass_role,) = [s for s in statements() if _listed(s["Action"]) == ["iam:PassRole"]]
    assert set(pass_role["Condition"]["StringEquals"]["iam:PassedToService"]) == services
    # Nowhere else: a wildcard on iam would let the deployer pass any role to anything.
    others = [a for s in statements() if s is not pass_role for a in _listed(s["Action"])]
    assert not [a for a in others if fnmatchcase("iam:passrole", a.lower())]
