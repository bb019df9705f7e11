"""The shell script of a one-shot job: apply a file with `weed`, then retry until it is served back exactly.

`weed filer.copy` exits 0 even when the upload failed (weed 4.48, e.g. before a volume server has
registered), so its exit status proves nothing; only reading the file back from the filer does. The
script needs a POSIX sh, `weed` on PATH, and `wget`, `cmp` and `sleep` (busybox or GNU): the SeaweedFS
image (Alpine) has all of them, and so does the machine that runs the tests.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

APPLY_TRIES = 60
APPLY_INTERVAL_SECONDS = 2


def apply_until_served(name: str, weed_args: Sequence[str], served_url: str, expected_file: str) -> str:
    """Exit 0 once GET `served_url` equals `expected_file` byte for byte, else 1 after APPLY_TRIES tries."""
    apply = shlex.join(("weed", *weed_args))
    served = f"wget -q -O - {shlex.quote(served_url)}"
    same = f"cmp -s - {shlex.quote(expected_file)}"
    not_yet = shlex.quote(f"{name}: {served_url} does not serve {expected_file} yet, try")
    return f"""tries=0
until {apply} && {served} | {same}; do
  tries=$((tries + 1))
  echo {not_yet} "$tries/{APPLY_TRIES}" >&2
  if [ "$tries" -ge {APPLY_TRIES} ]; then
    exit 1
  fi
  sleep {APPLY_INTERVAL_SECONDS}
done
echo {shlex.quote(f"{name}: {served_url} serves {expected_file}")}
"""
