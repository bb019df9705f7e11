"""Where the volume ledger's record lives, and the check that compares it with the live cluster.

- CLI (dev, or by hand): `--volume-record PATH`, a JSON file, replaced atomically (temp file + rename in
  the same directory), so a run killed mid-write leaves the previous record, never half of one.
- The scheduled Lambda watch: one SSM parameter (`ssm_parameter_name`), Advanced tier for its 8 KiB;
  PutParameter replaces the value as a whole, which is atomic on SSM's side.

A missing record is a first run: every volume seen is recorded and nothing is judged. The record is only
rewritten after the cluster's volumes were read, so a run that cannot reach a master keeps the old one.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from components.healthcheck.checks import Report
from components.healthcheck.ledger import MAX_RECORD_BYTES, Comparison, Record, VolumeSeen, compare, volumes_of
from components.healthcheck.probing import (
    CheckResult,
    Http,
    check_result,
    from_first_master,
    no_master_answered,
    since,
)

CHECK = "every volume present"
MAX_NAMED = 20  # a lost server pair can take hundreds of volumes; the first ones tell the story
SSM_PARAMETER_TIER = "Advanced"  # Standard holds 4 KiB, Advanced 8 KiB (MAX_RECORD_BYTES)


def ssm_parameter_name(stack: str) -> str:
    return f"/aegis-storage/{stack}/health/volume-record"


def record_policy_statement(parameter_arn: str) -> dict[str, Any]:
    """What the watch's role needs for its record: read and overwrite that one plain String parameter (no KMS)."""
    return {"Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:PutParameter"], "Resource": parameter_arn}


class RecordStore(Protocol):
    def load(self) -> Record | None: ...  # None: no record yet

    def save(self, record: Record) -> None: ...

    @property
    def where(self) -> str: ...


def _bounded(record: Record) -> str:
    text = record.to_json()
    if len(text.encode()) > MAX_RECORD_BYTES:
        raise ValueError(
            f"the volume record would take {len(text)} bytes for {len(record.volumes)} volumes, "
            f"more than the {MAX_RECORD_BYTES} bytes it may use"
        )
    return text


@dataclass(frozen=True)
class FileRecord:
    path: Path

    @property
    def where(self) -> str:
        return str(self.path)

    def load(self) -> Record | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return Record.from_json(text)

    def save(self, record: Record) -> None:
        text = _bounded(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Same directory, so the rename never crosses a file system and replaces the record in one step.
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class SsmRecord:
    """`client` is an SSM client (boto3 in the function, a fake in tests)."""

    client: Any
    name: str

    @property
    def where(self) -> str:
        return f"ssm:{self.name}"

    def load(self) -> Record | None:
        try:
            answer = self.client.get_parameter(Name=self.name)
        except Exception as exc:  # botocore builds ParameterNotFound from the model; nothing to import here
            if _error_code(exc) == "ParameterNotFound":
                return None  # the first run: the save below creates the parameter
            raise
        return Record.from_json(answer["Parameter"]["Value"])

    def save(self, record: Record) -> None:
        self.client.put_parameter(
            Name=self.name, Value=_bounded(record), Type="String", Tier=SSM_PARAMETER_TIER, Overwrite=True
        )


def _error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError (its `response`), else the exception's class name."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else type(exc).__name__


def check_volume_record(http: Http, master_urls: Sequence[str], store: RecordStore) -> list[CheckResult]:
    """Compare the stored record with the live volumes; "unhealthy" naming every volume that lost all copies."""
    start = time.perf_counter()
    found = _live_volumes(http, master_urls)
    if isinstance(found, str):
        return no_master_answered("volumes", CHECK, master_urls, since(start), f"{found}; the record is kept")
    where, volumes = found
    return [_judged(store, lambda previous: compare(previous, volumes), where, start)]


def _live_volumes(http: Http, master_urls: Sequence[str]) -> tuple[str, list[VolumeSeen]] | str:
    """(master that answered, its volumes) from the first master with a readable /vol/status, else why none."""
    return from_first_master(http, master_urls, "/vol/status", _volumes_or_none)


def _volumes_or_none(body: Mapping[str, Any] | None) -> list[VolumeSeen] | None:
    try:
        return volumes_of(body)
    except ValueError:
        return None


def _judged(store: RecordStore, judge: Callable[[Record], Comparison], where: str, start: float) -> CheckResult:
    try:
        previous = store.load()
    except (OSError, ValueError) as exc:
        # A broken record must not pass for "nothing lost"; an operator deletes it to start over.
        return check_result("volumes", where, CHECK, since(start), f"{store.where}: {exc}")
    result = judge(previous or Record())
    try:
        store.save(result.next_record)
    except (OSError, ValueError) as exc:
        return check_result("volumes", where, CHECK, since(start), f"cannot save the record: {exc}")
    if previous is None:
        note = f"first run: recorded {len(result.next_record.volumes)} volume(s) holding data in {store.where}"
        return check_result("volumes", where, CHECK, since(start), "", note)
    if not result.lost:
        note = f"{result.recorded} recorded volume(s) all present ({result.seen} now)"
        return check_result("volumes", where, CHECK, since(start), "", note)
    return check_result("volumes", where, CHECK, since(start), lost_message(result, store.where))


def lost_message(result: Comparison, record: str) -> str:
    named = "; ".join(
        f"volume {lose.id} ({_collection(lose.recorded.collection)}, {lose.recorded.replication}) "
        f"last on {', '.join(lose.recorded.servers)}"
        for lose in result.lost[:MAX_NAMED]
    )
    more = f"; and {len(result.lost) - MAX_NAMED} more" if len(result.lost) > MAX_NAMED else ""
    return (
        f"{len(result.lost)} volume(s) lost every copy without a deliberate delete: {named}{more} "
        # Named, so an operator who rebuilt the cluster on purpose knows what to delete.
        f"(they stay named until a copy returns or the id is removed from the record, {record})"
    )


def _collection(name: str) -> str:
    return f"collection {name}" if name else "default collection"


def with_volume_record(
    report: Report,
    master_urls: Sequence[str],
    store: RecordStore,
    probe_timeout: float = 3.0,
    *,
    transport: httpx.BaseTransport | None = None,
) -> Report:
    """The report with the ledger's verdict added. Run once per check run, after any wait: the record is
    rewritten each time, so it belongs to the run's final look at the cluster, not to each retry."""
    with httpx.Client(transport=transport, timeout=probe_timeout) as client:
        results = check_volume_record(Http(client, probe_timeout), master_urls, store)
    return dataclasses.replace(report, results=(*report.results, *results))
