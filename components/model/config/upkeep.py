"""Settings that keep a running cluster whole: the masters' maintenance interval, how long the filers'
metadata log is kept, and the capacity levels below which the health check calls the cluster degraded."""

from __future__ import annotations

from dataclasses import dataclass

from components.model.config.reader import Reader

MAX_MAINTENANCE_INTERVAL_MINUTES = 24 * 60
# The log is purged by whole days of folder age; below one day the purge would remove today's folder too.
MIN_METADATA_LOG_RETENTION_DAYS = 1


@dataclass(frozen=True)
class Upkeep:
    maintenance_interval_minutes: int
    min_free_volume_slots: int
    min_free_disk_percent: int
    metadata_log_retention_days: int = 7


def parse_upkeep(r: Reader) -> Upkeep:
    return Upkeep(
        maintenance_interval_minutes=r.checked(
            "maintenanceIntervalMinutes",
            lambda v: (
                None
                if 1 <= v <= MAX_MAINTENANCE_INTERVAL_MINUTES
                # weed sleeps whole minutes between runs; 0 would run the script back to back.
                else f"must be whole minutes between 1 and {MAX_MAINTENANCE_INTERVAL_MINUTES}"
            ),
            "pulumi config set maintenanceIntervalMinutes 15",
        ),
        min_free_volume_slots=r.checked(
            "minFreeVolumeSlots",
            lambda v: None if v >= 0 else "must be 0 (not checked) or more",
            "pulumi config set minFreeVolumeSlots 12",
        ),
        min_free_disk_percent=r.checked(
            "minFreeDiskPercent",
            lambda v: None if 0 <= v < 100 else "must be a percentage from 0 (not checked) to 99",
            "pulumi config set minFreeDiskPercent 10",
        ),
        metadata_log_retention_days=r.checked(
            "metadataLogRetentionDays",
            lambda v: (
                None
                if v >= MIN_METADATA_LOG_RETENTION_DAYS
                else f"must be at least {MIN_METADATA_LOG_RETENTION_DAYS} day (0 would purge the log being written)"
            ),
            "pulumi config set metadataLogRetentionDays 7",
        ),
    )
