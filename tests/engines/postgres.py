"""A throwaway PostgreSQL 15 cluster listening on 127.0.0.1.

Layout under ``base_dir``: ``data/`` (the cluster), ``run/`` (Unix socket),
``wal_archive/`` (with ``archive=True``) and ``postgresql.log``.

Roles: the superuser ``postgres`` is trusted from 127.0.0.1 (normal and
replication connections); ``sre`` (password ``sre-test-password``, owner of the
``app`` database, member of ``pg_monitor`` and ``pg_signal_backend``) must log
in with scram-sha-256, so tests exercise real password authentication. Roles
that tests create themselves also authenticate with scram-sha-256.
"""

from __future__ import annotations

import os
import pwd
import shlex
import stat
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import EngineUnavailable
from .ports import LOOPBACK, free_port, wait_until
from .processes import tail

DEFAULT_BIN_DIR = "/usr/lib/postgresql/15/bin"
SUPERUSER = "postgres"
SRE_USER = "sre"
SRE_PASSWORD = "sre-test-password"
APP_DB = "app"

_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres", "psql", "pg_basebackup")
_INSTALL_HINT = "Install them with `make setup` or `apt-get install postgresql-15`, or point SRE_PG_BINDIR at a directory that holds them."
# sun_path holds 108 bytes, and the server appends "/.s.PGSQL.<port>" to the directory.
_MAX_SOCKET_DIR_LEN = 90
_COMMAND_TIMEOUT = 120


class _Account:
    """The OS account the server runs as: ``postgres`` under root (initdb and postgres refuse root)."""

    def __init__(self, entry: pwd.struct_passwd) -> None:
        self.name = entry.pw_name
        self.uid = entry.pw_uid
        self.gid = entry.pw_gid
        self.groups = os.getgrouplist(entry.pw_name, entry.pw_gid)

    def run_kwargs(self) -> dict[str, Any]:
        """``subprocess`` arguments switching to this account (safe with threads, unlike ``preexec_fn``)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": self.groups}

    def own(self, path: Path) -> None:
        os.chown(path, self.uid, self.gid)

    def make_traversable(self, path: Path) -> None:
        """Let this account reach ``path``: add the search bit it lacks on each ancestor.

        pytest's temporary directories are 0700 and owned by root, so the
        server could not even open its data directory below them. Only the
        execute (search) bit is added, never read or write.
        """
        for directory in (path, *path.parents):
            mode = directory.stat()
            if mode.st_uid == self.uid:
                needed = stat.S_IXUSR
            elif mode.st_gid in self.groups:
                needed = stat.S_IXGRP
            else:
                needed = stat.S_IXOTH
            if not mode.st_mode & needed:
                directory.chmod(stat.S_IMODE(mode.st_mode) | needed)


def _server_account() -> _Account | None:
    if os.geteuid() != 0:
        return None
    try:
        return _Account(pwd.getpwnam(SUPERUSER))
    except KeyError:
        raise EngineUnavailable(
            "Running as root, but there is no `postgres` OS user to run the PostgreSQL server as (initdb refuses root). "
            "Install postgresql-15 with `make setup` or `apt-get install postgresql-15`, which creates it, or run the tests as a regular user."
        ) from None


def make_reachable_by_server(path: Path | str) -> Path:
    """Let the server's OS account reach ``path`` (created if missing), as a restore or backup directory beside it must be.

    Adds only the search bit the account lacks on each ancestor; nothing when not running as root.
    """
    path = Path(path).absolute()
    path.mkdir(parents=True, exist_ok=True)
    account = _server_account()
    if account:
        account.make_traversable(path)
    return path


def _quote_literal(value: str) -> str:
    """Quote a string for postgresql.conf or as an SQL literal (the same rule: double the quotes)."""
    return "'" + value.replace("'", "''") + "'"


def _dsn_quote(value: str) -> str:
    """Quote a libpq key=value connection string value when it needs it."""
    if value and not any(char in value for char in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class PostgresCluster:
    """A PostgreSQL cluster created with initdb on first ``start()`` and stopped with ``stop()``."""

    def __init__(
        self, base_dir: Path | str, port: int | None = None, archive: bool = False, bin_dir: Path | str | None = None, max_connections: int = 30,
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.port = port or free_port()
        self.archive = archive
        self.bin_dir = Path(bin_dir or os.environ.get("SRE_PG_BINDIR") or DEFAULT_BIN_DIR)
        self.max_connections = max_connections
        self.host = LOOPBACK
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "run"
        self.archive_dir = self.base_dir / "wal_archive"
        self.log_path = self.base_dir / "postgresql.log"
        self._passwords = {SRE_USER: SRE_PASSWORD}

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> PostgresCluster:
        """Create the cluster if needed and start it; a running cluster is left alone."""
        self._check_binaries()
        account = _server_account()
        if self.running:
            return self
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            self._initdb(account)
        # -p: a data directory created on an earlier run keeps that run's port in
        # postgresql.conf; the port this object reports must be the one served.
        result = self._run(
            [str(self._bin("pg_ctl")), "-D", str(self.data_dir), "-l", str(self.log_path), "-o", f"-p {self.port}", "-w", "-t", "60", "start"],
            account=account,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"PostgreSQL did not start on {self.host}:{self.port} (pg_ctl exit {result.returncode}: {result.stderr.strip() or result.stdout.strip()}); "
                f"last lines of {self.log_path}:\n{tail(self.log_path)}"
            )
        if fresh:
            self.psql(
                f"CREATE ROLE {SRE_USER} LOGIN CREATEDB PASSWORD {_quote_literal(SRE_PASSWORD)};\n"
                f"GRANT pg_monitor, pg_signal_backend TO {SRE_USER};\n"
                f"CREATE DATABASE {APP_DB} OWNER {SRE_USER};\n"
            )
        return self

    def stop(self) -> None:
        """Stop the server in fast mode; doing nothing when it does not run."""
        if not self.running:
            return
        result = self._run([str(self._bin("pg_ctl")), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"], account=_server_account())
        if result.returncode != 0 and self.running:
            raise RuntimeError(f"pg_ctl stop failed: {result.stderr.strip()}; last lines of {self.log_path}:\n{tail(self.log_path)}")

    @property
    def running(self) -> bool:
        """Whether the postmaster of this data directory runs (``pg_ctl status``)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        return self._run([str(self._bin("pg_ctl")), "-D", str(self.data_dir), "status"], account=_server_account()).returncode == 0

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()

    # -- connecting ------------------------------------------------------------

    def conninfo_for(self, user: str = SRE_USER, dbname: str = APP_DB) -> dict[str, Any]:
        """Connection parameters (host, port, user, password, dbname); password is "" for trusted users."""
        return {"host": self.host, "port": self.port, "user": user, "password": self._passwords.get(user, ""), "dbname": dbname}

    @property
    def conninfo(self) -> dict[str, Any]:
        """Parameters of the password-protected ``sre`` role on ``app``, e.g. for login_host/login_port/login_user/login_password/db."""
        return self.conninfo_for()

    def dsn(self, user: str = SUPERUSER, dbname: str = SUPERUSER) -> str:
        """A libpq key=value DSN, with the password of ``user`` when it has one."""
        parts = {key: str(value) for key, value in self.conninfo_for(user, dbname).items() if value != ""}
        return " ".join(f"{key}={_dsn_quote(value)}" for key, value in parts.items())

    def psql(self, sql: str, user: str = SUPERUSER, dbname: str = SUPERUSER) -> str:
        """Run ``sql`` (one or more statements) with the real psql over TCP; return its unaligned, tuples-only output."""
        result = self._run(
            [str(self._bin("psql")), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", self.host, "-p", str(self.port), "-U", user, "-d", dbname, "-f", "-"],
            stdin=sql, password=self._passwords.get(user),
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql as {user} on {dbname} failed (exit {result.returncode}): {result.stderr.strip()}")
        return result.stdout.rstrip("\n")

    @property
    def version(self) -> int:
        """``server_version_num`` of the running server, e.g. 150018."""
        return int(self.psql("SHOW server_version_num"))

    # -- backups and WAL -------------------------------------------------------

    def pg_basebackup(self, dest: Path | str, user: str = SUPERUSER) -> Path:
        """Take a streamed base backup into ``dest`` (created empty if missing) and return its path.

        The backup is owned by the server's OS account so it can be started as a cluster.
        """
        dest = Path(dest).absolute()
        dest.mkdir(parents=True, exist_ok=True)
        account = _server_account()
        if account:
            account.own(dest)
            account.make_traversable(dest)
        dest.chmod(0o700)
        result = self._run(
            [str(self._bin("pg_basebackup")), "-h", self.host, "-p", str(self.port), "-U", user, "-D", str(dest), "-X", "stream",
             # a fast checkpoint: the default spread one can take minutes
             "-c", "fast", "--no-sync"],
            account=account, password=self._passwords.get(user),
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_basebackup into {dest} failed (exit {result.returncode}): {result.stderr.strip()}")
        return dest

    def switch_wal(self) -> str:
        """Close the current WAL segment and return its file name (to pass to ``wait_archived``)."""
        # pg_switch_wal() does nothing on a segment without records, and the
        # name it returns would then be of a segment that is never archived.
        self.psql("SELECT pg_logical_emit_message(false, 'sre.runbooks', 'switch-wal')")
        return self.psql("SELECT pg_walfile_name(pg_switch_wal())")

    def wait_archived(self, wal_name: str, timeout: float = 30.0) -> Path:
        """Wait until ``archive_command`` has copied ``wal_name`` into ``archive_dir``; return its path."""
        if not self.archive:
            raise RuntimeError("this cluster was created without archive=True")
        archived = self.archive_dir / wal_name
        try:
            wait_until(archived.exists, timeout=timeout, interval=0.1, what=f"{wal_name} in {self.archive_dir}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; last lines of {self.log_path}:\n{tail(self.log_path)}") from None
        return archived

    # -- internals -------------------------------------------------------------

    def _bin(self, name: str) -> Path:
        return self.bin_dir / name

    def _check_binaries(self) -> None:
        missing = [name for name in _REQUIRED_BINARIES if not os.access(self._bin(name), os.X_OK)]
        if missing:
            raise EngineUnavailable(f"PostgreSQL 15 server binaries not found in {self.bin_dir} ({', '.join(missing)}). {_INSTALL_HINT}")

    def _initdb(self, account: _Account | None) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o755)
        created = [self.base_dir]
        if len(str(self.socket_dir)) <= _MAX_SOCKET_DIR_LEN:
            self.socket_dir.mkdir(exist_ok=True)
            created.append(self.socket_dir)
        if self.archive:
            self.archive_dir.mkdir(exist_ok=True)
            created.append(self.archive_dir)
        if account:
            for path in created:
                account.own(path)
            account.make_traversable(self.base_dir)
        result = self._run(
            [str(self._bin("initdb")), "-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-locale",
             # a throwaway cluster: skip fsync-ing the new files
             "--no-sync", "--no-instructions"],
            account=account,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed (exit {result.returncode}): {result.stderr.strip()}")
        self._write_config()

    def _write_config(self) -> None:
        # A socket directory whose path is too long for sun_path would stop the
        # server from starting; every client here uses TCP, so go without one.
        socket_dir = str(self.socket_dir) if self.socket_dir.is_dir() else ""
        settings = {
            "listen_addresses": _quote_literal(self.host),
            "port": str(self.port),
            "unix_socket_directories": _quote_literal(socket_dir),
            "max_connections": str(self.max_connections),
            "wal_level": "replica",
            "max_wal_senders": "5",
        }
        if self.archive:
            target = shlex.quote(f"{self.archive_dir}/") + "%f"
            settings["archive_mode"] = "on"
            # Copy, then rename: a segment in archive_dir is always complete.
            settings["archive_command"] = _quote_literal(f"test ! -f {target} && cp %p {target}.partial && mv {target}.partial {target}")
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# sre.runbooks test engine\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        hba = (
            "# TYPE  DATABASE     USER       ADDRESS        METHOD\n"
            f"local   all          {SUPERUSER}                  trust\n"
            f"host    all          {SUPERUSER}   127.0.0.1/32   trust\n"
            f"host    replication  {SUPERUSER}   127.0.0.1/32   trust\n"
            "host    all          all        127.0.0.1/32   scram-sha-256\n"
        )
        (self.data_dir / "pg_hba.conf").write_text(hba, encoding="utf-8")

    def _run(self, cmd: list[str], account: _Account | None = None, stdin: str | None = None, password: str | None = None) -> subprocess.CompletedProcess[str]:
        # PG* variables of the caller (PGHOST, PGPORT, PGDATA...) would point the tools elsewhere.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        if password:
            env["PGPASSWORD"] = password
        return subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, env=env, cwd=self.base_dir if self.base_dir.is_dir() else None,
            timeout=_COMMAND_TIMEOUT, check=False, **(account.run_kwargs() if account else {}),
        )
