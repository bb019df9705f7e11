"""Usage per tenant and its growth over the last hour, with a fake clock."""

from __future__ import annotations

from components.usage.index import Change, UsageIndex
from components.usage.tenants import GrowthRing, TenantTotals, tenant_totals


def test_totals_add_up_each_tenants_volumes_and_leave_out_volumes_that_are_gone():
    index = UsageIndex()
    for ts, path, size in [
        (1, "/aegis/volumes/a/v1/x", 10),
        (2, "/aegis/volumes/a/v1/y", 5),
        (3, "/aegis/volumes/a/v2/x", 1),
        (4, "/aegis/volumes/b/v1/x", 100),
        (5, "/aegis/volumes/c/v1/x", 1),
    ]:
        index.apply(Change(ts, new=path, new_size=size))
    index.apply(Change(6, new="/aegis/volumes/d/v1", new_is_dir=True))  # created, nothing written yet
    index.apply(Change(7, old="/aegis/volumes/c/v1", old_is_dir=True))
    assert tenant_totals(index.volumes) == {
        "a": TenantTotals(16, 3, 2),
        "b": TenantTotals(100, 1, 1),
        "d": TenantTotals(0, 0, 1),
    }


def test_growth_is_null_until_an_hour_of_samples_then_bytes_per_hour_since_an_hour_ago():
    ring = GrowthRing()
    for minute in range(60):
        assert ring.due(minute * 60.0)
        ring.add(minute * 60.0, {"a": minute * 1000})
        assert not ring.due(minute * 60.0 + 59)
    assert ring.growth(59 * 60.0, {"a": 59_000}) is None
    assert ring.growth(3600.0, {"a": 60_000, "new": 500}) == {"a": 60_000.0, "new": 500.0}
    # Two hours on, only the last hour counts, and the ring holds about an hour of samples.
    for minute in range(60, 121):
        ring.add(minute * 60.0, {"a": 60_000})
    assert ring.growth(120 * 60.0, {"a": 60_000}) == {"a": 0.0}
    assert len(ring._samples) <= 62


def test_a_shrinking_tenant_grows_negatively():
    ring = GrowthRing(window_s=100, every_s=10)
    ring.add(0.0, {"a": 1000})
    assert ring.growth(200.0, {"a": 0}) == {"a": -18_000.0}
