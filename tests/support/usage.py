"""The filer listing the usage service's answers are held to (the service itself runs in LocalCluster), read with
the service's own listing reader (components/usage/walk.py): one reader of the filer's listing JSON."""

from __future__ import annotations

from components.usage.walk import Listed, Lister, filer_lister, listing, walk


def _lister(filer: str) -> Lister:
    return filer_lister([filer.removeprefix("http://")])


def listed_usage(filer: str, directory: str) -> dict[str, int] | None:
    """What a full listing of `directory` adds up to, as AEGIS's JSON; None when it does not exist."""
    lister = _lister(filer)
    if lister(directory, "") is None:
        return None
    files = [entry for entry in walk(lister, directory) if not entry.is_dir]
    return {"TotalSize": sum(entry.size for entry in files), "FileCount": len(files)}


def _children(lister: Lister, directory: str) -> list[Listed]:
    found: list[Listed] = []
    last: str | None = ""
    while last is not None:
        body = lister(directory, last)
        if body is None:
            break
        entries, last = listing(body)
        found += entries
    return found


def listed_volumes(filer: str) -> list[str]:
    """Every volume directory under /aegis/volumes/ (tenants starting with "." are the usage service's own)."""
    lister = _lister(filer)
    tenants = [e.path for e in _children(lister, "/aegis/volumes") if e.is_dir]
    tenants = [t for t in tenants if not t.rsplit("/", 1)[-1].startswith(".")]
    return [e.path for tenant in tenants for e in _children(lister, tenant) if e.is_dir]
