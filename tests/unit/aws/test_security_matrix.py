"""The pure ingress matrix: exactly the allowed (tier, port, source) triples, nothing open to the world."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.aws.placement import prod_topology
from components.aws.security import Rule, SourceKind, Tier, ingress_matrix, tier_refs, tiers
from components.model import config
from components.model.haproxy import ADMIN_PORT
from components.model.refs import Ref
from components.model.topology import LoadBalancer
from tests.support.prod_ingress import MONITORING, OPERATORS, ORCHESTRATORS, PROD_MATRIX, C, G

# The design plus the usage service beside each HAProxy, which reads the filers' metadata stream over gRPC.


ROOT = Path(__file__).resolve().parents[3]


def prod_config(**overrides: Any) -> config.StackConfig:
    raw = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    values = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith(f"{config.PROJECT}:")}
    return config.parse(
        {**values, **overrides}, stack="prod", secret_keys={"databasePassword"}, aws_region=raw["aws:region"]
    )


def matrix(**overrides: Any) -> list[Rule]:
    cfg = prod_config(**overrides)
    return ingress_matrix(cfg.aws.network, cfg.aws.database, prod_topology(cfg))


def triples(rules: list[Rule]) -> set[tuple[str, int, SourceKind, str]]:
    return {(r.tier.value, r.port, r.source_kind, r.source) for r in rules}


def test_prod_matrix_is_exactly_the_designed_one() -> None:
    rules = matrix()
    assert len(rules) == len(triples(rules)), "duplicate rules"
    assert triples(rules) == PROD_MATRIX
    assert all(rule.description for rule in rules)


def test_orchestrators_reach_only_the_filer_port_of_the_nlb_never_the_admin_frontend() -> None:
    rules = matrix(orchestratorSecurityGroupId="sg-0orchestrators", orchestratorCidrs=[ORCHESTRATORS, "10.21.0.0/16"])
    from_orchestrators = {
        (r.tier, r.port, r.source)
        for r in rules
        if r.source in {"sg-0orchestrators", ORCHESTRATORS, "10.21.0.0/16"} or r.source_kind is G
    }
    assert from_orchestrators == {
        (Tier.NLB, 8888, "sg-0orchestrators"),
        (Tier.NLB, 8888, ORCHESTRATORS),
        (Tier.NLB, 8888, "10.21.0.0/16"),
    }
    (group_rule,) = [r for r in rules if r.source == "sg-0orchestrators"]
    assert group_rule.source_kind is G


def test_without_s3_nothing_listens_on_the_s3_port_and_operators_get_only_the_admin_frontend() -> None:
    cfg = prod_config(s3Enabled=False)
    topology = prod_topology(cfg)
    rules = ingress_matrix(cfg.aws.network, cfg.aws.database, topology)
    assert Tier.S3 not in tiers(cfg.aws.database, topology)
    assert not [r for r in rules if r.port == 8333 or r.source == "s3" or r.tier is Tier.S3]
    assert {(r.tier, r.port) for r in rules if r.source == OPERATORS} == {(Tier.NLB, ADMIN_PORT)}
    assert triples(rules) == {t for t in PROD_MATRIX if t[1] not in {8333, 9327} and t[3] != "s3"}


def test_external_database_has_no_database_group() -> None:
    cfg = prod_config(databaseMode="external", databaseHost="pg.internal", databasePassword="x")
    topology = prod_topology(cfg)
    assert Tier.DB not in tiers(cfg.aws.database, topology)
    assert triples(ingress_matrix(cfg.aws.network, cfg.aws.database, topology)) == {
        t for t in PROD_MATRIX if t[0] != "db"
    }


def test_without_monitoring_no_metrics_or_stats_port_is_open() -> None:
    rules = matrix(monitoringCidrs=[])
    assert triples(rules) == {t for t in PROD_MATRIX if t[3] != MONITORING}
    assert not [r for r in rules if r.port in {9324, 9325, 9326, 9327} or (r.tier is Tier.LB and r.source_kind is C)]


def test_every_port_comes_from_the_model_and_none_from_the_internet() -> None:
    cfg = prod_config(orchestratorSecurityGroupId="sg-0orchestrators")
    topology = prod_topology(cfg)
    assert cfg.aws is not None
    model_ports = {port for service in topology.services for port in service.ports}
    model_ports |= {LoadBalancer.port, LoadBalancer.stats_port, LoadBalancer.health.port, cfg.aws.database.port}
    model_ports.add(ADMIN_PORT)
    rules = ingress_matrix(cfg.aws.network, cfg.aws.database, topology)
    assert {r.port for r in rules} <= model_ports
    assert not [r for r in rules if r.source in {"0.0.0.0/0", "::/0"}]


def test_each_tier_reads_only_the_secrets_its_processes_use() -> None:
    cfg = prod_config()
    needs = tier_refs(prod_topology(cfg))
    assert needs == {
        Tier.MASTER: (Ref.JWT_SIGNING_KEY,),
        Tier.VOLUME: (Ref.JWT_SIGNING_KEY,),
        Tier.FILER: (Ref.JWT_SIGNING_KEY, Ref.DB_PASSWORD),
        Tier.S3: (
            Ref.S3_ADMIN_ACCESS_KEY,
            Ref.S3_ADMIN_SECRET_KEY,
            Ref.S3_READONLY_ACCESS_KEY,
            Ref.S3_READONLY_SECRET_KEY,
        ),
    }
