"""The shell script of a one-shot job: apply a file with `weed`, then retry until it is served back exactly.

`weed filer.copy` exits 0 even when the upload failed (weed 4.48, e.g. before a volume server has
registered), so its exit status proves nothing; only reading the file back from the filer does. The
script needs a POSIX sh, `weed` on PATH, and `wget`, `cmp` and `sleep` (busybox or GNU): the SeaweedFS
image (Alpine) has all of them, and so does the machine that runs the tests.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

TOOLS = ("sh", "weed", "wget", "cmp", "sleep")
APPLY_TRIES = 60
APPLY_INTERVAL_SECONDS = 2


def apply_until_served(
    name: str,
    weed_args: Sequence[str],
    served_url: str,
    expected_file: str,
    tries: int = APPLY_TRIES,
    interval_seconds: float = APPLY_INTERVAL_SECONDS,
) -> str:
    """Exit 0 once GET `served_url` equals `expected_file` byte for byte, else 1 after `tries` tries."""
    apply = shlex.join(("weed", *weed_args))
    served = f"wget -q -O - {shlex.quote(served_url)}"
    same = f"cmp -s - {shlex.quote(expected_file)}"
    not_yet = shlex.quote(f"{name}: {served_url} does not serve {expected_file} yet, try")
    gave_up = shlex.quote(f"{name}: giving up after {tries} tries: {served_url} never served {expected_file}")
    sleep = f"{interval_seconds:g}"
    return f"""tries=0
until {apply} && {served} | {same}; do
  tries=$((tries + 1))
  echo {not_yet} "$tries/{tries}" >&2
  if [ "$tries" -ge {tries} ]; then
    echo {gave_up} >&2
    exit 1
  fi
  sleep {sleep}
done
echo {shlex.quote(f"{name}: {served_url} serves {expected_file}")}
"""
