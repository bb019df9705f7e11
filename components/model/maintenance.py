"""The maintenance script every master is given; only the Raft leader runs it, every `interval` minutes.

Seen on weed 4.48 (3 masters, 3 volume servers with rack = zone, replication 010, on loopback):
- `[master.maintenance] scripts` / `sleep_minutes` of master.toml are read from the environment as
  WEED_MASTER_MAINTENANCE_SCRIPTS / WEED_MASTER_MAINTENANCE_SLEEP_MINUTES. A multi-line value works, and
  so do commands separated by ";" on one line; the script is one line here because the AWS nodes pass
  the environment through `docker run --env-file`, which ends a value at the first newline.
- Each loop sleeps `sleep_minutes` (whole minutes), then runs the script only on the leader, and only
  once a filer has registered (the script's `s3.clean.uploads` talks to it); followers never run it.
- The shell runs inside the master with the master's own address and picks a registered filer, so no
  command needs -master or -filer.
- `volume.fix.replication -apply` copied every volume left with 1 of 2 copies after a volume server was
  SIGKILLed back to 2 copies in the next run. `-apply` is the documented switch; `-force` is an alias.
  It takes about 15 s even with nothing to fix; every command of the script ran without an error, and
  `volume.vacuum` compacted the volumes whose files had been deleted.
- Every filer appends each metadata change to its log under /topics/.system/log/<YYYY-MM-DD>/ and never
  removes it. `fs.log.purge -daysAgo=N` deletes the day folders whose modification time (set when the
  folder was created, the day's first write) is more than N days old; -daysAgo=0 would take today's too.
"""

from __future__ import annotations

from components.model.config.upkeep import Upkeep

EMPTY_VOLUME_QUIET_FOR = "24h"  # a volume grown for a new bucket is empty at first: leave it a day
STALE_UPLOAD_AGE = "24h"  # unfinished S3 multipart uploads older than this are removed
VACUUM_GARBAGE_THRESHOLD = 0.3  # compact a volume once 30 % of it is deleted data (weed's default)


def maintenance_commands(log_retention_days: int) -> tuple[str, ...]:
    """The script, one command each. lock/unlock: one admin at a time, so a `weed shell` an operator holds
    makes the run wait. Replicas come first: a lost copy is the risk, the rest only frees space or evens it
    out. volume.deleteEmpty stays: docs/decisions/2026-12-07-volume-delete-empty.md has the evidence."""
    return (
        "lock",
        "volume.fix.replication -apply",
        f"volume.deleteEmpty -quietFor={EMPTY_VOLUME_QUIET_FOR} -apply",
        "volume.balance -apply",
        f"volume.vacuum -garbageThreshold={VACUUM_GARBAGE_THRESHOLD}",
        f"s3.clean.uploads -timeAgo={STALE_UPLOAD_AGE}",
        f"fs.log.purge -daysAgo={log_retention_days}",
        "unlock",
    )


def maintenance_env(upkeep: Upkeep) -> tuple[tuple[str, str], ...]:
    """The master environment that makes the leader run the maintenance script every interval."""
    return (
        ("WEED_MASTER_MAINTENANCE_SCRIPTS", "; ".join(maintenance_commands(upkeep.metadata_log_retention_days))),
        ("WEED_MASTER_MAINTENANCE_SLEEP_MINUTES", str(upkeep.maintenance_interval_minutes)),
    )
