"""The in-VPC health function's code: one deterministic zip of the project's health check and its HTTP client.

The zip holds the whole `components/healthcheck` package, which imports no Pulumi, the `components/usage`
modules it reads the usage service's filer rules with (standard library only), and httpx with the
distributions it requires (read from their metadata), copied from the environment the stack runs in, so the
function runs the very code `python -m components.healthcheck` runs
(docs/decisions/2026-11-27-health-function-vendoring.md).

Same sources, same bytes: entries are sorted and carry a fixed timestamp and mode, so the stack's archive
(and the function's code hash) changes only when the code or a vendored version does.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path, PurePosixPath

# packaging comes with pulumi (and pulumi-aws), so wherever the stack runs, it is there.
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# The vendored files are the ones installed for the interpreter running the stack, and the tests run the
# artifact with it. The function's runtime is the stack's `healthFunctionRuntime`, not this interpreter's
# version: the zip is pure Python (vendored_files refuses a compiled module), so the same bytes run on every
# runtime the config accepts (3.11 and newer, which the check itself needs). One coupling is left: the
# requirements' markers are read for this interpreter, so a deployer newer than the runtime could leave out a
# backport the runtime needs. Today none differs: anyio takes typing_extensions below 3.15 and exceptiongroup
# below 3.11, so every deployer and runtime from 3.11 to 3.14 vendors the same files.
HANDLER = "components.healthcheck.lambda_handler.handler"
# The check's one third-party import; what it needs in turn is read from the installed metadata.
HTTP_CLIENT = "httpx"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_BINARY_SUFFIXES = (".so", ".pyd", ".dylib")


def project_files(root: Path = ROOT) -> list[tuple[str, Path]]:
    """(path in the zip, source) of the health check and usage packages and the namespace package above them."""
    found = [("components/__init__.py", root / "components" / "__init__.py")]
    for package in ("healthcheck", "usage"):
        found += [(f"components/{package}/{p.name}", p) for p in sorted((root / "components" / package).glob("*.py"))]
    return found


def requirement_closure(root: str = HTTP_CLIENT) -> tuple[str, ...]:
    """`root` and every distribution it requires on this interpreter without extras, as installed (sorted).

    With httpx 0.28 on Python 3.11: anyio, certifi, h11, httpcore, httpx, idna, typing_extensions.
    """
    environment = {**default_environment(), "extra": ""}
    found: dict[str, str] = {}
    pending = [root]
    while pending:
        dist = metadata.distribution(pending.pop())
        key = canonicalize_name(dist.metadata["Name"])
        if key in found:
            continue
        found[key] = dist.metadata["Name"]
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                pending.append(requirement.name)
    return tuple(sorted(found.values(), key=str.lower))


def vendored_files(distributions: Iterable[str]) -> list[tuple[str, Path]]:
    """(path in the zip, installed file) of every importable file of `distributions`, as pip installed them."""
    found: list[tuple[str, Path]] = []
    for name in distributions:
        dist = metadata.distribution(name)
        for entry in dist.files or ():
            path = PurePosixPath(str(entry))
            if _skipped(path):
                continue
            if path.suffix in _BINARY_SUFFIXES:
                raise ValueError(f"{name} ships a compiled module ({path}); the artifact must stay pure Python")
            found.append((str(path), Path(str(dist.locate_file(entry)))))
    return found


def _skipped(path: PurePosixPath) -> bool:
    # Metadata, byte code and console scripts (installed outside site-packages, "../../bin/...") are not imported.
    return (
        path.parts[0] == ".."
        or path.parts[0].endswith(".dist-info")
        or "__pycache__" in path.parts
        or path.suffix == ".pyc"
    )


def build_artifact(root: Path = ROOT) -> bytes:
    """The function's zip: the same bytes for the same sources, whatever the clock or the file order."""
    entries = dict(project_files(root))
    for arcname, source in vendored_files(requirement_closure()):
        if arcname in entries:
            raise ValueError(f"{arcname} is in two places: the project and a vendored distribution")
        entries[arcname] = source
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname, data in _sorted_contents(entries):
            info = zipfile.ZipInfo(arcname, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, so the mode above is honoured the same on every build machine
            archive.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def _sorted_contents(entries: dict[str, Path]) -> Iterator[tuple[str, bytes]]:
    for arcname in sorted(entries):
        yield arcname, entries[arcname].read_bytes()


def write_artifact(directory: Path, content: bytes) -> Path:
    """Store `content` under a name made of its hash, so a path always means the same bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"health-function-{hashlib.sha256(content).hexdigest()[:16]}.zip"
    if not path.exists() or path.read_bytes() != content:
        path.write_bytes(content)
    return path
