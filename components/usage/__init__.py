"""The usage service: answers AEGIS's `GET /dir/status` with each volume's real usage and keeps its `POST /quota`.

It ships to the HAProxy tier nodes and imports no Pulumi (nor anything outside the standard library), so the
tier's own Python runs it. Usage comes from an in-memory index per volume, fed by the filers' metadata event
stream (`weed filer.meta.tail`), never from a listing on request; a checkpoint on disk lets a restart catch up
from the last event instead of walking the filer.

- `index.py`: the index (pure): events in, `{"TotalSize", "FileCount"}` per volume out, exact under replays.
- `events.py`: the stream's JSON objects turned into `Change`s (pure).
- `quotas.py`: where quotas live in the filer, and the read-only rules over-quota volumes get (pure).
- `service.py`: the running service: one tail per filer, the checkpoint, the enforcement loop.
- `freshness.py`: the heartbeats that tell caught up, current and lagging apart (pure).
- `tenants.py`: usage per tenant and its growth over the last hour (pure).
- `server.py`: the HTTP side (`GET /dir/status`, `POST /quota`, `/healthz`, `GET /tenants`).
"""
