"""The masters' maintenance script and the settings that keep a running cluster whole."""

from pathlib import Path

import pytest

from components.aws.placement import prod_topology
from components.docker.storage import dev_topology
from components.model.config import parse
from components.model.maintenance import maintenance_commands
from components.model.topology import Role
from tests.support.cluster import loopback_topology
from tests.support.stack_configs import problems, prod


def master_env(topology) -> dict[str, str]:
    return dict(topology.of(Role.MASTER)[0].env)


@pytest.mark.parametrize("topology", [dev_topology(parse({}, stack="dev")), prod_topology(prod())], ids=["dev", "prod"])
def test_every_master_gets_the_maintenance_script_and_the_default_interval(topology):
    for master in topology.of(Role.MASTER):
        env = dict(master.env)
        assert env["WEED_MASTER_MAINTENANCE_SLEEP_MINUTES"] == "15"
        commands = env["WEED_MASTER_MAINTENANCE_SCRIPTS"].split("; ")
        assert commands == list(maintenance_commands(7))


def test_the_script_repairs_first_and_holds_the_cluster_lock_throughout():
    commands = maintenance_commands(7)
    names = [command.split()[0] for command in commands]
    assert names == [
        "lock",
        "volume.fix.replication",
        "volume.deleteEmpty",
        "volume.balance",
        "volume.vacuum",
        "s3.clean.uploads",
        "fs.log.purge",
        "unlock",
    ]
    # Without -apply these commands only print what they would do.
    applied = ("volume.fix.replication", "volume.deleteEmpty", "volume.balance")
    assert all("-apply" in command.split() for command in commands if command.split()[0] in applied)


def test_the_script_is_one_line_because_docker_env_files_end_a_value_at_a_newline():
    assert "\n" not in master_env(prod_topology(prod()))["WEED_MASTER_MAINTENANCE_SCRIPTS"]


def test_the_interval_comes_from_the_stack_config():
    assert master_env(prod_topology(prod(maintenanceIntervalMinutes=1)))["WEED_MASTER_MAINTENANCE_SLEEP_MINUTES"] == "1"


@pytest.mark.parametrize("minutes", [0, -5, 1441])
def test_an_interval_out_of_range_fails_with_the_fix(minutes):
    [message] = problems(maintenanceIntervalMinutes=minutes)
    assert message.startswith(f"aegis-storage:maintenanceIntervalMinutes = {minutes}: ")
    assert "Fix: pulumi config set maintenanceIntervalMinutes 15" in message


@pytest.mark.parametrize(("key", "value"), [("minFreeVolumeSlots", -1), ("minFreeDiskPercent", 100)])
def test_capacity_thresholds_out_of_range_fail(key, value):
    [message] = problems(**{key: value})
    assert message.startswith(f"aegis-storage:{key} = {value}: ") and f"Fix: pulumi config set {key}" in message


def test_capacity_thresholds_have_defaults_and_can_be_switched_off():
    assert (
        parse({}, stack="dev").upkeep.min_free_volume_slots,
        parse({}, stack="dev").upkeep.min_free_disk_percent,
    ) == (
        12,
        10,
    )
    off = parse({"minFreeVolumeSlots": 0, "minFreeDiskPercent": 0}, stack="dev").upkeep
    assert (off.min_free_volume_slots, off.min_free_disk_percent) == (0, 0)


def test_only_loopback_volume_servers_accept_loopback_copy_sources(tmp_path: Path):
    flag = "-volume.allowUntrustedRemoteEndpoints"
    loopback, _ = loopback_topology(prod(), tmp_path, "127.0.61")
    assert all(flag in s.args for s in loopback.of(Role.VOLUME))
    for topology in (prod_topology(prod()), dev_topology(parse({}, stack="dev"))):
        assert not any(flag in s.args for s in topology.services)


def test_the_metadata_log_is_purged_past_the_configured_retention():
    assert "fs.log.purge -daysAgo=7" in master_env(prod_topology(prod()))["WEED_MASTER_MAINTENANCE_SCRIPTS"]
    script = master_env(prod_topology(prod(metadataLogRetentionDays=30)))["WEED_MASTER_MAINTENANCE_SCRIPTS"]
    assert "fs.log.purge -daysAgo=30" in script.split("; ")


@pytest.mark.parametrize("days", [0, -1])
def test_a_retention_that_would_purge_todays_log_is_refused(days):
    (message,) = problems(metadataLogRetentionDays=days)
    assert "metadataLogRetentionDays" in message and f"= {days}" in message and "pulumi config set" in message
