"""A throwaway PostgreSQL (Debian's package) on a loopback address, with TLS so `sslmode=require` holds.

Started as the unprivileged `postgres` user when running as root (PostgreSQL refuses root), stopped by PID.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import stop_process


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install -y postgresql (scripts/test does)")
    return found[-1]


@dataclass
class LocalPostgres:
    """`root` is created here, outside any 0700 temp tree, so the postgres user can always reach it."""

    host: str
    port: int
    database: str
    user: str
    password: str
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="aegis-postgres-")), init=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    def _run_as(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        account = pwd.getpwnam("postgres")
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def init(self) -> None:
        self._chown(self.root)
        subprocess.run(
            [_bin("initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            **self._run_as(),
        )
        cert, key = self.data_dir / "server.crt", self.data_dir / "server.key"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                f"/CN={self.host}",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        for path in (cert, key):
            self._chown(path)
        key.chmod(0o600)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '{self.host}'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nssl = on\n"
                "ssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        # Filers must come in over TLS with a password, as they do against RDS with rds.force_ssl.
        (self.data_dir / "pg_hba.conf").write_text(
            "local all postgres trust\nhostssl all all 127.0.0.0/8 scram-sha-256\n"
        )
        self.start()
        self.psql(f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'")
        # PostgreSQL 15 takes CREATE on schema public away from non-owners: the filers own their database.
        self.psql(f"CREATE DATABASE {self.database} OWNER {self.user}")

    def start(self) -> None:
        self.popen = subprocess.Popen(
            [_bin("postgres"), "-D", str(self.data_dir)],
            stdout=(self.root / "postgres.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **self._run_as(),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [_bin("pg_isready"), "-h", str(self.root), "-p", str(self.port)], capture_output=True
            )
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise TimeoutError(f"PostgreSQL did not start: {(self.root / 'postgres.log').read_text()[-2000:]}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the postmaster we started."""
        if self.popen:
            stop_process(self.popen, signal.SIGINT, timeout=20)

    def remove(self) -> None:
        """Stop it and delete its files."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def dump(self, path: Path) -> None:
        """pg_dump of the filers' database (custom format), as a backup job would take it."""
        with path.open("wb") as out:
            subprocess.run(
                [_bin("pg_dump"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres", "-Fc", self.database],
                check=True,
                stdout=out,
                **self._run_as(),
            )

    def restore(self, path: Path) -> None:
        """Load a dump into this (fresh) database, every object owned by the filers' user."""
        subprocess.run(
            [
                *(_bin("pg_restore"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres"),
                *("-d", self.database, "--no-owner", f"--role={self.user}", "--exit-on-error"),
            ],
            check=True,
            stdin=path.open("rb"),
            capture_output=True,
            **self._run_as(),
        )

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                _bin("psql"),
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            **self._run_as(),
        )
        return result.stdout.strip()
