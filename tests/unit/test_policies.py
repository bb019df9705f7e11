"""The policy pack: each rule on crafted properties, the real prod program against every rule, and the
wrapping of the rules into the Pulumi policies the CLI runs (without starting the PolicyPack server)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pulumi
import pytest
from packaging.requirements import Requirement
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE as UNKNOWN
from pulumi_policy.proxy import unknown_checking_proxy

from components.model.config import PROJECT
from policy import pack, rules
from tests.support.prod_program import Run, execute
from tests.support.pulumi_harness import ROOT, Registration
from tests.support.stack_configs import PROD

WORLD = "0.0.0.0/0"
ORCHESTRATORS = "10.20.0.0/16"
ORCHESTRATOR_SG = "sg-0orchestrators"


def ingress(port: int | None = None, cidr: str = WORLD, protocol: str = "tcp", **extra: Any) -> dict[str, Any]:
    """A SecurityGroupIngressRule's properties; `port` None leaves the port range out."""
    props = {"ipProtocol": protocol, "cidrIpv4": cidr, **extra}
    if port is not None:
        props.update(fromPort=port, toPort=port)
    return props


# --- no SeaweedFS or PostgreSQL port open to the internet ------------------------------------------------


def test_the_guarded_ports_are_the_models_ports_and_postgresql() -> None:
    http, grpc, metrics, haproxy_stats = (9333, 8080, 8888, 8333), (19333, 18080, 18888, 18333), range(9324, 9328), 8404
    assert {*http, *grpc, *metrics, haproxy_stats} == rules.SEAWEEDFS_PORTS
    assert rules.POSTGRES_PORT == 5432


@pytest.mark.parametrize("port", sorted(rules.SEAWEEDFS_PORTS | {rules.POSTGRES_PORT}))
def test_each_guarded_port_open_to_the_world_violates(port: int) -> None:
    (message,) = rules.public_ingress(rules.INGRESS_RULE, ingress(port))
    assert WORLD in message and str(port) in message
    assert rules.public_ingress(rules.INGRESS_RULE, ingress(port, cidr="10.99.0.0/24")) == []


@pytest.mark.parametrize(
    ("props", "opened"),
    [
        (ingress(fromPort=0, toPort=65535), True),  # every TCP port
        (ingress(fromPort=8000, toPort=8100), True),  # holds 8080
        (ingress(fromPort=5400, toPort=5500), True),  # holds 5432
        (ingress(fromPort=20000, toPort=30000), False),  # above every guarded port
        (ingress(fromPort=8081, toPort=8332), False),  # between 8080 and 8333
        (ingress(443), False),
        (ingress(protocol="-1"), True),  # all protocols, all ports
        (ingress(protocol="all"), True),
        (ingress(8080, protocol="udp"), False),  # weed listens on TCP only
        (ingress(8080, protocol="6"), True),  # TCP by number
        (ingress(protocol="tcp"), True),  # no range: assume the worst
        (ingress(8888, cidr="::/0", protocol="tcp"), True),
        ({"ipProtocol": "tcp", "fromPort": 8888, "toPort": 8888, "cidrIpv6": "::/0"}, True),
        ({"ipProtocol": "tcp", "fromPort": 8888.0, "toPort": 8888.0, "cidrIpv4": WORLD}, True),  # JSON numbers
        (ingress(8888, cidr="0.0.0.0/1"), False),  # half the internet is a bad idea, but not "the world"
    ],
)
def test_ranges_and_protocols_that_reach_a_guarded_port(props: dict[str, Any], opened: bool) -> None:
    assert bool(rules.public_ingress(rules.INGRESS_RULE, props)) is opened


def test_inline_group_ingress_and_group_rules_are_checked_too() -> None:
    group = {
        "ingress": [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": [WORLD]},
            {"protocol": "tcp", "fromPort": 9333, "toPort": 9333, "cidrBlocks": ["10.0.0.0/8", WORLD]},
            {"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "ipv6CidrBlocks": ["::/0"]},
        ]
    }
    violations = rules.public_ingress(rules.SECURITY_GROUP, group)
    assert len(violations) == 2
    assert "9333" in violations[0] and "5432" in violations[1]
    assert rules.public_ingress(rules.SECURITY_GROUP, {"ingress": []}) == []
    rule = {"type": "ingress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": [WORLD]}
    assert rules.public_ingress(rules.SECURITY_GROUP_RULE, rule)
    # Open egress (image pulls, SSM) is what every node has; only ingress is guarded.
    assert rules.public_ingress(rules.SECURITY_GROUP_RULE, {**rule, "type": "egress"}) == []
    assert rules.public_ingress("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", ingress(protocol="-1")) == []


def test_a_configured_database_port_is_guarded_instead_of_5432() -> None:
    assert rules.public_ingress(rules.INGRESS_RULE, ingress(6432), database_port=6432)
    assert rules.public_ingress(rules.INGRESS_RULE, ingress(6432)) == []


# --- the S3 gateway is never reachable from the orchestrators ----------------------------------------------


def s3_violations(props: dict[str, Any], resource_type: str = rules.INGRESS_RULE) -> list[str]:
    return rules.s3_from_orchestrators(resource_type, props, [ORCHESTRATOR_SG], [ORCHESTRATORS])


def test_operators_may_reach_the_s3_port_and_orchestrators_the_filer_port() -> None:
    assert s3_violations(ingress(8333, cidr="10.99.0.0/24")) == []
    assert s3_violations(ingress(8888, cidr=ORCHESTRATORS)) == []
    assert s3_violations({**ingress(8888, cidr=""), "referencedSecurityGroupId": ORCHESTRATOR_SG}) == []
    assert s3_violations({**ingress(8333, cidr=""), "referencedSecurityGroupId": "sg-nlb"}) == []


@pytest.mark.parametrize(
    "props",
    [
        ingress(8333, cidr=ORCHESTRATORS),
        ingress(8333, cidr="10.20.5.0/24"),  # inside the orchestrators' range
        ingress(8333, cidr="10.0.0.0/8"),  # holds the orchestrators' range
        ingress(8333, cidr=WORLD),
        ingress(fromPort=8000, toPort=9000, cidr=ORCHESTRATORS),
        ingress(protocol="-1", cidr=ORCHESTRATORS),
        {**ingress(8333, cidr=""), "referencedSecurityGroupId": ORCHESTRATOR_SG},
    ],
)
def test_any_path_from_the_orchestrators_to_the_s3_port_violates(props: dict[str, Any]) -> None:
    assert len(s3_violations(props)) == 1


def test_s3_rule_reads_inline_group_ingress_and_group_rules() -> None:
    group = {"ingress": [{"protocol": "tcp", "fromPort": 8333, "toPort": 8333, "securityGroups": [ORCHESTRATOR_SG]}]}
    assert s3_violations(group, rules.SECURITY_GROUP)
    rule = {"type": "ingress", "protocol": "tcp", "fromPort": 8333, "toPort": 8333, "sourceSecurityGroupId": "sg-x"}
    assert s3_violations(rule, rules.SECURITY_GROUP_RULE) == []
    assert s3_violations({**rule, "sourceSecurityGroupId": ORCHESTRATOR_SG}, rules.SECURITY_GROUP_RULE)


def test_without_orchestrator_config_there_is_nothing_to_keep_out() -> None:
    assert rules.s3_from_orchestrators(rules.INGRESS_RULE, ingress(8333, cidr=ORCHESTRATORS), [], []) == []


# --- RDS, disks, protection, quorum -------------------------------------------------------------------------

HARDENED_RDS = {
    "multiAz": True,
    "storageEncrypted": True,
    "publiclyAccessible": False,
    "deletionProtection": True,
    "skipFinalSnapshot": False,
}


def test_a_hardened_database_passes_and_aws_defaults_count_as_false() -> None:
    assert rules.rds_hardened(rules.RDS_INSTANCE, HARDENED_RDS) == []
    defaults = {k: v for k, v in HARDENED_RDS.items() if k not in ("publiclyAccessible", "skipFinalSnapshot")}
    assert rules.rds_hardened(rules.RDS_INSTANCE, defaults) == []
    assert rules.rds_hardened(rules.EBS_VOLUME, {}) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("multiAz", False),
        ("multiAz", None),
        ("storageEncrypted", False),
        ("deletionProtection", None),
        ("publiclyAccessible", True),
        ("skipFinalSnapshot", True),
    ],
)
def test_each_weakened_database_setting_violates(key: str, value: Any) -> None:
    props = {k: v for k, v in {**HARDENED_RDS, key: value}.items() if v is not None}
    (message,) = rules.rds_hardened(rules.RDS_INSTANCE, props)
    assert message.startswith(key)


def test_volumes_and_block_devices_must_be_encrypted_explicitly() -> None:
    assert rules.unencrypted_disks(rules.EBS_VOLUME, {"encrypted": True}) == []
    assert rules.unencrypted_disks(rules.EBS_VOLUME, {"encrypted": False})
    assert rules.unencrypted_disks(rules.EBS_VOLUME, {})
    good = {"rootBlockDevice": {"encrypted": True}, "ebsBlockDevices": [{"encrypted": True}]}
    assert rules.unencrypted_disks(rules.INSTANCE, good) == []
    assert rules.unencrypted_disks(rules.INSTANCE, {}) == ["rootBlockDevice must set encrypted: true"]
    assert rules.unencrypted_disks(rules.INSTANCE, {"rootBlockDevice": {"encrypted": False}})
    unencrypted_extra = {**good, "ebsBlockDevices": [{"encrypted": True}, {}]}
    assert rules.unencrypted_disks(rules.INSTANCE, unencrypted_extra) == ["ebsBlockDevices[1] must set encrypted: true"]


def tagged(node: str) -> dict[str, Any]:
    return {"tags": {"Name": f"aegis-storage-prod-{node}", rules.NODE_TAG: node}}


@pytest.mark.parametrize("type_", [rules.RDS_INSTANCE, rules.EBS_VOLUME, rules.DNS_ZONE])
def test_stateful_resources_must_be_protected(type_: str) -> None:
    assert rules.unprotected_state(type_, {}, protect=True) == []
    (message,) = rules.unprotected_state(type_, {}, protect=False)
    assert type_ in message


def test_only_the_masters_network_interfaces_must_be_protected() -> None:
    eni = rules.NETWORK_INTERFACE
    assert rules.unprotected_state(eni, tagged("master-1"), protect=True) == []
    assert "master-1" in rules.unprotected_state(eni, tagged("master-1"), protect=False)[0]
    assert rules.unprotected_state(eni, tagged("volume-0"), protect=False) == []
    assert rules.unprotected_state(eni, tagged("master-lb"), protect=False) == []
    assert rules.unprotected_state(rules.INSTANCE, tagged("master-0"), protect=False) == []


def masters(count: int) -> list[rules.StackResource]:
    return [(rules.INSTANCE, tagged(f"master-{i}"), False) for i in range(count)]


@pytest.mark.parametrize(("count", "ok"), [(0, True), (1, False), (2, False), (3, True), (4, False), (5, True)])
def test_master_instances_form_an_odd_quorum_of_at_least_three(count: int, ok: bool) -> None:
    others = [(rules.INSTANCE, tagged("volume-0"), False), (rules.NETWORK_INTERFACE, tagged("master-9"), True)]
    assert (rules.master_quorum(masters(count) + others) == []) is ok


# --- the real prod program against every rule ---------------------------------------------------------------


def triples(registrations: list[Registration]) -> list[rules.StackResource]:
    return [(r.type, r.inputs, r.protect) for r in registrations]


def all_violations(resources: list[rules.StackResource], settings: pack.StackSettings) -> list[str]:
    """What every rule says about the stack, as the policies see it (settings as stack_settings() reads them)."""
    found = rules.master_quorum(resources)
    for type_, props, protect, *_ in resources:
        found += rules.rds_hardened(type_, props)
        found += rules.unencrypted_disks(type_, props)
        found += rules.public_ingress(type_, props, settings.database_port)
        found += rules.s3_from_orchestrators(type_, props, settings.orchestrator_groups, settings.orchestrator_cidrs)
        found += rules.unprotected_state(type_, props, protect)
        found += rules.private_functions(type_, props)
    return found


PROD_SETTINGS = pack.StackSettings(
    orchestrator_groups=(ORCHESTRATOR_SG,), orchestrator_cidrs=tuple(PROD["orchestratorCidrs"]), database_port=5432
)


@pytest.fixture(scope="module")
def prod() -> Run:
    # The orchestrators' security group too, so the group-source path of the S3 rule sees real rules.
    return execute(orchestratorSecurityGroupId=ORCHESTRATOR_SG)


def test_the_real_prod_program_passes_every_rule(prod: Run) -> None:
    resources = triples(prod.run.registrations)
    assert {type_ for type_, _, _ in resources} >= {
        rules.INSTANCE,
        rules.RDS_INSTANCE,
        rules.EBS_VOLUME,
        rules.NETWORK_INTERFACE,
        rules.DNS_ZONE,
        rules.INGRESS_RULE,
        rules.LAMBDA_FUNCTION,
        rules.LAMBDA_PERMISSION,
    }
    assert all_violations(resources, PROD_SETTINGS) == []


def mutated(prod: Run, type_: str, name: str, change: Callable[[Registration], None]) -> list[rules.StackResource]:
    registrations = []
    for r in prod.run.registrations:
        copy = Registration(**{**vars(r), "inputs": json.loads(json.dumps(r.inputs))})
        if (r.type, r.name) == (type_, name):
            change(copy)
        registrations.append(copy)
    return triples(registrations)


def _public_rds(r: Registration) -> None:
    r.inputs["publiclyAccessible"] = True


def _unprotected(r: Registration) -> None:
    r.protect = False


def _from_orchestrators(r: Registration) -> None:
    r.inputs["cidrIpv4"] = ORCHESTRATORS


def _from_the_world(r: Registration) -> None:
    r.inputs["cidrIpv4"] = WORLD


def _not_a_master(r: Registration) -> None:
    r.inputs["tags"][rules.NODE_TAG] = "retired"


def _plain_disk(r: Registration) -> None:
    r.inputs["encrypted"] = False


def _outside_the_vpc(r: Registration) -> None:
    del r.inputs["vpcConfig"]


def _anyone_may_invoke(r: Registration) -> None:
    r.inputs["principal"] = "*"


@pytest.mark.parametrize(
    ("type_", "name", "change", "expected"),
    [
        (rules.RDS_INSTANCE, "metadata-db", _public_rds, "publiclyAccessible must be false"),
        (rules.NETWORK_INTERFACE, "master-0-eni", _unprotected, "network interface of master-0"),
        (rules.EBS_VOLUME, "volume-2-data", _unprotected, "holds state"),
        (rules.EBS_VOLUME, "master-1-data", _plain_disk, "encrypted: true"),
        (rules.INGRESS_RULE, "sg-nlb-8333-from-10-99-0-0-24", _from_orchestrators, "S3 gateway port"),
        (rules.INGRESS_RULE, "sg-master-9324-from-10-98-0-0-24", _from_the_world, "9324"),
        (rules.INSTANCE, "master-2", _not_a_master, "2 master instance(s)"),
        (rules.LAMBDA_FUNCTION, "health", _outside_the_vpc, "must run in the VPC"),
        (rules.LAMBDA_PERMISSION, "health-from-schedule", _anyone_may_invoke, "lets anyone invoke"),
    ],
)
def test_a_mutated_prod_registration_fails_its_rule(
    prod: Run, type_: str, name: str, change: Callable[[Registration], None], expected: str
) -> None:
    (violation,) = all_violations(mutated(prod, type_, name, change), PROD_SETTINGS)
    assert expected in violation


# --- the wrapping: policy objects the CLI gets, and the pack's entry point ----------------------------------


SetConfig = Callable[[dict[str, Any]], None]


@pytest.fixture
def stack_config() -> Iterator[SetConfig]:
    """Sets this project's stack config as the policy SDK does before each analysis; cleared afterwards."""

    def set_config(values: dict[str, Any]) -> None:
        pulumi.runtime.set_all_config(
            {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
        )

    yield set_config
    pulumi.runtime.set_all_config({})


def test_stack_settings_come_from_the_stack_config_or_the_project_defaults(stack_config: SetConfig) -> None:
    stack_config({})
    assert pack.stack_settings() == pack.StackSettings((), (), 5432)
    stack_config({"orchestratorSecurityGroupId": ORCHESTRATOR_SG, "orchestratorCidrs": [ORCHESTRATORS, "10.21.0.0/16"]})
    assert pack.stack_settings() == pack.StackSettings((ORCHESTRATOR_SG,), (ORCHESTRATORS, "10.21.0.0/16"), 5432)
    stack_config({"databasePort": 6432})
    assert pack.stack_settings().database_port == 6432


def options(protect: bool) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


# One violating example per rule function: (resource type, properties, protect), or a stack for the quorum.
RESOURCE_EXAMPLES: dict[Callable[..., list[str]], tuple[str, dict[str, Any], bool]] = {
    rules.rds_hardened: (rules.RDS_INSTANCE, {**HARDENED_RDS, "multiAz": False}, True),
    rules.unencrypted_disks: (rules.EBS_VOLUME, {"encrypted": False}, True),
    rules.public_ingress: (rules.INGRESS_RULE, ingress(8888), True),
    rules.s3_from_orchestrators: (rules.INGRESS_RULE, ingress(8333, cidr="10.20.1.0/24"), True),
    rules.unprotected_state: (rules.DNS_ZONE, {}, False),
    rules.private_functions: (rules.LAMBDA_URL, {"functionName": "f", "authorizationType": "NONE"}, True),
}
# A stack example entry may name the indices of the entries it depends on (fourth item).
STACK_EXAMPLES = {rules.master_quorum: masters(1), rules.one_replacement_per_tier: masters(3)}
NODE_READY = "pulumi-python:dynamic:Resource"


def chained_masters(count: int) -> list[tuple[str, dict[str, Any], bool, tuple[int, ...]]]:
    """Master instances each waiting for the NodeReady of the one before, as the prod program builds them."""
    entries: list[tuple[str, dict[str, Any], bool, tuple[int, ...]]] = []
    for i in range(count):
        entries.append((rules.INSTANCE, tagged(f"master-{i}"), False, (len(entries) - 1,) if i else ()))
        entries.append((NODE_READY, {}, False, (len(entries) - 1,)))
    return entries


def reported(policy: Any, example: Any) -> list[str]:
    messages: list[str] = []

    def report_violation(message: str, urn: str | None = None) -> None:
        messages.append(message)

    if isinstance(policy, StackValidationPolicy):
        resources = [
            PolicyResource(t, props, f"urn:{i}", f"r{i}", options(protect), None, None, [], {})
            for i, (t, props, protect, *_) in enumerate(example)
        ]
        for resource, (*_, dependencies) in zip(resources, [(*e, ())[:4] for e in example], strict=True):
            resource.dependencies = [resources[j] for j in dependencies]
        policy.validate(StackValidationArgs(resources), report_violation)
    else:
        type_, props, protect = example
        policy.validate(ResourceValidationArgs(type_, props, "urn:x", "x", options(protect), None), report_violation)
    return messages


def test_every_rule_function_has_an_example_here() -> None:
    defined = {
        f
        for name, f in vars(rules).items()
        if callable(f) and not name.startswith("_") and f.__module__ == rules.__name__
    }
    assert defined == set(RESOURCE_EXAMPLES) | set(STACK_EXAMPLES)


def test_each_rule_is_wrapped_by_exactly_one_mandatory_policy(stack_config: SetConfig) -> None:
    stack_config({"orchestratorCidrs": [ORCHESTRATORS]})
    policies = pack.policies()
    assert len({p.name for p in policies}) == len(policies)
    assert all(p.enforcement_level is EnforcementLevel.MANDATORY for p in policies)
    examples = {**RESOURCE_EXAMPLES, **STACK_EXAMPLES}
    owners = {}
    for rule, example in examples.items():
        resource_example = rule in RESOURCE_EXAMPLES
        kind = ResourceValidationPolicy if resource_example else StackValidationPolicy
        hits = [p.name for p in policies if isinstance(p, kind) and reported(p, example)]
        assert len(hits) == 1, (rule.__name__, hits)
        owners[rule] = hits[0]
    assert sorted(owners.values()) == sorted(p.name for p in policies)


def test_a_compliant_resource_reports_nothing_through_any_policy(stack_config: SetConfig) -> None:
    stack_config({"orchestratorCidrs": [ORCHESTRATORS]})
    for policy in pack.policies():
        stack = isinstance(policy, StackValidationPolicy)
        example = chained_masters(3) if stack else (rules.RDS_INSTANCE, HARDENED_RDS, True)
        assert reported(policy, example) == [], policy.name


def test_policies_read_only_what_they_need_so_unknown_preview_values_elsewhere_do_not_stop_them(
    stack_config: SetConfig,
) -> None:
    stack_config({"orchestratorCidrs": [ORCHESTRATORS]})
    # During a preview a group created in the same update has no id yet; the SDK raises when it is read.
    props = unknown_checking_proxy({**ingress(8888), "securityGroupId": UNKNOWN, "referencedSecurityGroupId": UNKNOWN})
    resource_policies = [p for p in pack.policies() if isinstance(p, ResourceValidationPolicy)]
    found = {p.name: reported(p, (rules.INGRESS_RULE, props, True)) for p in resource_policies}
    assert [name for name, messages in found.items() if messages] == ["no-public-storage-ports"]


def distributions_needed(requirements: Path) -> set[str]:
    """The distributions a `pip install -r requirements` brings in: the requirements and their dependencies."""
    pending = [Requirement(line).name for line in requirements.read_text().splitlines() if line and line[0] != "#"]
    found: set[str] = set()
    while pending:
        name = re.sub(r"[-_.]+", "-", pending.pop()).lower()
        if name in found:
            continue
        found.add(name)
        for spec in metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return found


ENTRY_POINT_PROBE = """
import json, runpy, sys
import pulumi_policy
built = []
pulumi_policy.PolicyPack = lambda **kwargs: built.append(kwargs)
runpy.run_path(".", run_name="__main__")
print(json.dumps({
    "packs": [[b["name"], b["enforcement_level"].value, [p.name for p in b["policies"]]] for b in built],
    "modules": sorted({m.split(".")[0] for m in sys.modules}),
}))
"""


def test_the_entry_point_builds_the_pack_from_the_pack_directory_with_its_own_requirements() -> None:
    """Run `__main__.py` as the CLI does (working directory policy/, project root not on sys.path), with
    PolicyPack replaced so no server starts; everything it imports must come from policy/requirements.txt."""
    policy_dir = ROOT / "policy"
    out = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT_PROBE],
        cwd=policy_dir,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    probe = json.loads(out.stdout)
    assert probe["packs"] == [[pack.PACK_NAME, "mandatory", [p.name for p in pack.policies()]]]

    needed = distributions_needed(policy_dir / "requirements.txt")
    owners = metadata.packages_distributions()
    third_party = {m for m in probe["modules"] if m in owners and m not in ("components", "policy", "tests")}
    missing = {m: owners[m] for m in third_party if not {re.sub(r"[-_.]+", "-", d).lower() for d in owners[m]} & needed}
    assert missing == {}


def test_the_pack_pins_the_same_policy_sdk_as_the_tests() -> None:
    def pin(path: Path) -> str:
        match = re.search(r"^pulumi-policy==(\S+)$", path.read_text(), re.M)
        assert match, path
        return match.group(1)

    assert pin(ROOT / "policy" / "requirements.txt") == pin(ROOT / "requirements-dev.txt")
    assert pin(ROOT / "requirements-dev.txt") == metadata.version("pulumi-policy")


def graph(registrations: list[Registration]) -> list[rules.GraphResource]:
    return [(r.type, r.inputs, r.urn, r.dependencies) for r in registrations]


def test_the_prod_program_replaces_one_instance_of_a_tier_at_a_time(prod: Run) -> None:
    assert rules.one_replacement_per_tier(graph(prod.run.registrations)) == []


def test_a_preview_that_could_replace_two_nodes_of_a_tier_at_once_fails(prod: Run) -> None:
    unchained = []
    for r in prod.run.registrations:
        copy = Registration(**vars(r))
        if r.type == rules.INSTANCE and r.name == "master-1":
            copy.dependencies = [d for d in r.dependencies if not d.endswith("master-0-ready")]
        unchained.append(copy)
    (violation,) = rules.one_replacement_per_tier(graph(unchained))
    assert "master-1 does not wait for master-0" in violation and "master tier" in violation
