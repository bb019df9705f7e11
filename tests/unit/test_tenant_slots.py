"""The pure parts of benchmarks/tenant_slots.py: reading /dir/status, naming tenants, the arithmetic."""

import json

from benchmarks import tenant_slots
from benchmarks.tenant_slots import Run, Slots, slots_from_dir_status, tenant_ids, tenants_until_full
from components.aws.placement import prod_topology
from components.model.aegis import layout as aegis_layout
from components.model.topology import Role
from tests.support.stack_configs import prod

# Trimmed from a 3-volume-server loopback cluster (weed 4.48) after AEGIS's first write.
DIR_STATUS = json.loads(
    '{"Topology": {"Max": 768, "Free": 744, "DataCenters": [], "Layouts": ['
    '{"replication": "010", "ttl": "", "writables": [1, 2], "collection": "", "diskType": "hdd"},'
    '{"replication": "010", "ttl": "", "writables": [7], "collection": "volumes", "diskType": "hdd"}]}}'
)


def test_slots_are_read_from_the_masters_topology():
    slots = slots_from_dir_status(DIR_STATUS)
    assert (slots.total, slots.free, slots.used, slots.collections) == (768, 744, 24, ("", "volumes"))


def test_tenants_are_distinct_aegis_user_tenants():
    tenants = tenant_ids(500)
    assert len(set(tenants)) == 500
    assert all(t.startswith("u-") and len(t) == 34 and aegis_layout.TENANT_PATTERN.match(t) for t in tenants)


def test_capacity_is_the_shipped_servers_times_their_slots():
    cfg = prod()
    [volume_max] = {arg for s in prod_topology(cfg).of(Role.VOLUME) for arg in s.args if arg.startswith("-max=")}
    assert tenant_slots.shipped_capacity(cfg) == int(volume_max.removeprefix("-max=")) * cfg.volume_server_count == 768


def test_per_tenant_cost_and_when_slots_run_out():
    def at(used: int) -> Slots:
        return Slots(768, 768 - used, ())

    run = Run(before=at(12), first=at(24), after=at(84), tenants=6, failed=0)
    assert run.per_tenant == 12.0
    assert tenants_until_full(768, 12, run.per_tenant) == 63
    assert Run(at(12), at(24), at(24), 500, 0).per_tenant == 0.0


def test_the_other_variant_leaves_out_only_the_rules_collection():
    topology = prod_topology(prod())
    varied = tenant_slots.without_rule_collection(topology)
    assert varied.services == topology.services and varied.load_balancers == topology.load_balancers
    before, after = json.loads(topology.filer_rules), json.loads(varied.filer_rules)
    assert before["locations"][0].pop("collection") == aegis_layout.COLLECTION
    assert before == after
    [job] = varied.jobs
    assert [f.content for f in job.files] == [varied.filer_rules]
