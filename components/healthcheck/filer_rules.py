"""Are the storage-class rules the filer applies exactly the ones the stack rendered?

The filer keeps its path rules in the file /etc/seaweedfs/filer.conf of its own namespace (in the
metadata store, so every filer applies the same). A missing file means no per-path replication or TTL;
a different one means someone changed the rules by hand (`fs.configure`) or the rules job never got
through. Either is a deployment that does not match the code, so the check compares bytes. The one change
that is the deployment at work: the usage service's read-only rules for volumes past their quota
(components/usage/quotas.py), appended to the rendered rules exactly as it renders them.
"""

from __future__ import annotations

from components.usage.quotas import held_read_only

RULES_PATH = "/etc/seaweedfs/filer.conf"


def rules_problem(status_code: int, served: bytes, rendered: str) -> str:
    """Empty when the filer serves `rendered` byte for byte, else what is wrong, in one line."""
    if status_code == 404:
        return f"no storage-class rules on the filer ({RULES_PATH}: 404)"
    if status_code != 200:
        return f"{RULES_PATH} answered HTTP {status_code}"
    if served == rendered.encode() or held_read_only(served.decode(errors="replace"), rendered) is not None:
        return ""
    live = served.decode(errors="replace").splitlines()
    wanted = rendered.splitlines()
    line = next((i for i, (a, b) in enumerate(zip(live, wanted, strict=False)) if a != b), min(len(live), len(wanted)))
    shown = live[line].strip() if line < len(live) else "<end of file>"
    expected = wanted[line].strip() if line < len(wanted) else "<end of file>"
    return f"live {RULES_PATH} differs from the rendered rules at line {line + 1}: {shown!r}, expected {expected!r}"
