"""A PostgreSQL and a Redis of the tests' own, on ports of their own, that fault tests may
restart, stop, or kill: never the machine's shared servers (127.0.0.1:5432 and :6379).

PostgreSQL: one cluster per test session (initdb costs a second or two), made with initdb into
a temporary folder and run with pg_ctl; each test gets a database of its own on it (CREATE
DATABASE) through the `own_postgres` fixture. As root, initdb and postgres run as the
`postgres` OS user (they refuse root). Trust authentication, 127.0.0.1 only, fsync off.

Redis: a redis-server per test (it starts in milliseconds), without persistence.

Everything is stopped and removed at the end of the session, at exit (atexit) if the session
did not get there, and, should a test run have been killed outright, by the next run: each
folder names the process that made it, and folders whose maker is gone are cleaned up.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

PREFIX = "jobgraph-own-"  # every folder made here: /tmp/jobgraph-own-{pg,redis}-XXXX
OWNER_FILE = "owner.pid"
PG_BIN_ENV = "JOBGRAPH_TEST_PG_BIN"  # a folder with initdb, pg_ctl and postgres, to override the search

_live: list[PostgresServer | RedisServer] = []
_live_lock = threading.Lock()


class ServiceUnavailable(RuntimeError):
    """The programs are not installed here (the fixtures skip, or fail in CI)."""


# ---------------------------------------------------------------- helpers


def _wait(done: object, timeout: float, what: str, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def stable_port() -> int:
    """A free port below the kernel's ephemeral range: a server restarted on it must find it
    free again, and a port from the ephemeral range may meanwhile become some client
    connection's local port."""
    low = 32768
    with contextlib.suppress(OSError, ValueError), open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    for _ in range(200):
        port = random.randint(max(1024, low - 12000), low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _process_state(pid: int) -> str | None:
    """The /proc state letter of `pid` ("Z" for a zombie), or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def pid_running(pid: int) -> bool:
    """A process that exists and is not a zombie (a zombie has exited: it only waits to be reaped)."""
    state = _process_state(pid)
    return state is not None and state != "Z"


def _group_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


def _runs_in(pid: int, folder: Path) -> bool:
    """Whether `pid` is a live process whose working directory is in `folder`: ours (a
    postmaster works in its data folder, redis-server in its --dir), not a process that got a
    reused pid, and never one of the machine's own servers."""
    if pid <= 1 or not pid_running(pid):
        return False
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return cwd == str(folder) or cwd.startswith(str(folder) + os.sep)


def _kill_group_of(pid: int, folder: Path) -> None:
    """SIGKILL the process group led by `pid`, if `pid` is one of ours (working in `folder`)."""
    if not _runs_in(pid, folder):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _make_root(kind: str, owner: str | None = None) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-", dir="/tmp" if os.path.isdir("/tmp") else None))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    if owner is not None:
        import pwd

        entry = pwd.getpwnam(owner)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        os.chown(root / OWNER_FILE, entry.pw_uid, entry.pw_gid)
    return root


def clean_leftovers() -> None:
    """Servers and folders left by test runs that were killed before they could clean up."""
    for folder in glob.glob(os.path.join(tempfile.gettempdir(), f"{PREFIX}*")) + glob.glob(f"/tmp/{PREFIX}*"):
        root = Path(folder)
        try:
            owner = int((root / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue  # not ours, or being made right now
        if owner == os.getpid() or pid_running(owner):
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            _kill_group_of(int((root / "data" / "postmaster.pid").read_text().split()[0]), root)
        with contextlib.suppress(OSError, ValueError):
            _kill_group_of(int((root / "redis.pid").read_text().strip()), root)
        shutil.rmtree(root, ignore_errors=True)


def _register(server: PostgresServer | RedisServer) -> None:
    with _live_lock:
        _live.append(server)


def _unregister(server: PostgresServer | RedisServer) -> None:
    with _live_lock, contextlib.suppress(ValueError):
        _live.remove(server)


@atexit.register
def _destroy_all() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):
            server.destroy()


# ---------------------------------------------------------------- PostgreSQL


def find_pg_bin() -> Path:
    """The folder with initdb, pg_ctl and postgres: $JOBGRAPH_TEST_PG_BIN, the newest
    /usr/lib/postgresql/*/bin, or the PATH."""
    wanted = ("initdb", "pg_ctl", "postgres")
    candidates = []
    if os.environ.get(PG_BIN_ENV):
        candidates.append(Path(os.environ[PG_BIN_ENV]))

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    candidates += [
        Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)
    ]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all((folder / name).is_file() for name in wanted):
            return folder
    raise ServiceUnavailable(
        f"no PostgreSQL programs ({', '.join(wanted)}) in {PG_BIN_ENV}, /usr/lib/postgresql or PATH"
    )


class PostgresServer:
    """A private PostgreSQL cluster: initdb into a temporary folder, run by pg_ctl on 127.0.0.1:port."""

    def __init__(self, port: int | None = None, bin_dir: Path | None = None) -> None:
        self.bin = bin_dir or find_pg_bin()
        self.as_user = "postgres" if os.geteuid() == 0 else None
        if self.as_user is not None:
            import pwd

            try:
                pwd.getpwnam(self.as_user)
            except KeyError:
                raise ServiceUnavailable(
                    "running as root, and there is no `postgres` user to run PostgreSQL as"
                ) from None
        self.port = port or stable_port()
        self.root = _make_root("pg", self.as_user)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        _register(self)

    # -- the programs
    def _run(self, *argv: str, timeout: float = 90, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        done = subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, timeout=timeout, cwd=self.root, stdin=subprocess.DEVNULL
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} exited with {done.returncode}:\n{done.stdout}{done.stderr}\n"
                f"--- {self.log}:\n{self.log_tail()}"
            )
        return done

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def init(self) -> PostgresServer:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "shared_buffers": "32MB",
            "max_wal_size": "256MB",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# jobgraph tests\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        return self

    # -- the server
    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and _runs_in(pid, self.data)

    def start(self, timeout: float = 60) -> None:
        """Start and wait until it accepts connections."""
        self._run(
            str(self.bin / "pg_ctl"), "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(timeout)),
            timeout=timeout + 30,
        )  # fmt: skip
        _wait(self.accepts, timeout, f"PostgreSQL on port {self.port} to accept connections\n{self.log_tail()}")

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        """A clean shutdown ("fast": clients are disconnected, transactions roll back)."""
        if not self.running():
            return
        self._run(
            str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", mode, "-w", "-t", str(int(timeout)),
            timeout=timeout + 30,
        )  # fmt: skip

    def restart(self, timeout: float = 60) -> None:
        self.stop(timeout=timeout)
        self.start(timeout=timeout)

    def kill(self, timeout: float = 30) -> None:
        """SIGKILL the postmaster and every backend it started (its process group), as a
        crashed host would. start() then recovers from the WAL."""
        pid = self.postmaster_pid()
        if pid is not None and _runs_in(pid, self.data):
            members = _group_members(pid) or [pid]
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            for member in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(member, signal.SIGKILL)
            _wait(lambda: not any(pid_running(m) for m in members), timeout, "the killed PostgreSQL processes to end")
        # No postmaster of ours runs now. An unreaped zombie still answers kill(pid, 0), and
        # postgres would take it for a live postmaster: the lock files go, nobody holds them.
        for lock in (self.data / "postmaster.pid", self.root / f".s.PGSQL.{self.port}.lock"):
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()

    def accepts(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(
                host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", connect_timeout=2
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def ensure_running(self) -> None:
        if not self.running():
            self.kill()  # whatever is left of it
            self.start()

    # -- databases
    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as c:
            c.execute(sql)  # type: ignore[arg-type]

    def create_database(self, name: str | None = None) -> str:
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        """Gone for good: the server (immediately) and its folder."""
        with contextlib.suppress(Exception):
            if self.running():
                self.stop(mode="immediate", timeout=20)
        with contextlib.suppress(Exception):
            self.kill(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
        _unregister(self)


class OwnPostgres:
    """What a test gets: a database of its own on the session's private cluster, and the
    cluster's lifecycle. The cluster is running again (the database kept) for the next test."""

    def __init__(self, server: PostgresServer, database: str) -> None:
        self.server = server
        self.database = database

    @property
    def url(self) -> str:
        """postgresql+psycopg://postgres@127.0.0.1:PORT/<this test's database>"""
        return self.server.url(self.database)

    @property
    def admin_url(self) -> str:
        """The cluster's `postgres` database."""
        return self.server.admin_url

    @property
    def port(self) -> int:
        return self.server.port

    def start(self, timeout: float = 60) -> None:
        self.server.start(timeout)

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        self.server.stop(mode, timeout)

    def restart(self, timeout: float = 60) -> None:
        self.server.restart(timeout)

    def kill(self) -> None:
        self.server.kill()

    def running(self) -> bool:
        return self.server.running()

    def postmaster_pid(self) -> int | None:
        return self.server.postmaster_pid()


# ---------------------------------------------------------------- Redis


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise ServiceUnavailable("no redis-server program on PATH")
    return found


class RedisServer:
    """A redis-server on 127.0.0.1:port, in a folder of its own, without persistence."""

    def __init__(self, port: int | None = None, program: str | None = None) -> None:
        self.program = program or find_redis_server()
        self.port = port or stable_port()
        self.root = _make_root("redis")
        self.log = self.root / "redis.log"
        self.popen: subprocess.Popen[bytes] | None = None
        _register(self)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        return [
            self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.root), "--logfile", str(self.log), "--daemonize", "no", "--protected-mode", "no",
        ]  # fmt: skip

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self, timeout: float = 30) -> None:
        if self.running():
            return
        self.popen = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        (self.root / "redis.pid").write_text(str(self.popen.pid))

        def answers() -> bool:
            if self.popen is not None and self.popen.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.popen.returncode}:\n{self.log_tail()}")
            return self.ping()

        _wait(answers, timeout, f"redis-server on port {self.port} to answer\n{self.log_tail()}")

    def ping(self) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self, timeout: float = 30) -> None:
        """A clean shutdown (SIGTERM; there is nothing to save)."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)

    def restart(self, timeout: float = 30) -> None:
        self.stop(timeout)
        self.start(timeout)

    def flushall(self) -> None:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10)
        try:
            client.flushall()
        finally:
            client.close()

    def client(self) -> object:
        import redis

        return redis.Redis.from_url(self.url)

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
        _unregister(self)


def start_postgres() -> PostgresServer:
    """A new private cluster, initialised and running (about 1-2 s)."""
    clean_leftovers()
    server = PostgresServer()
    try:
        server.init()
        server.start()
    except BaseException:
        server.destroy()
        raise
    return server


def start_redis() -> RedisServer:
    """A new private redis-server, answering. Another port is tried if the first was taken."""
    clean_leftovers()
    last: Exception | None = None
    for _ in range(3):
        server = RedisServer()
        try:
            server.start()
            return server
        except Exception as exc:
            server.destroy()
            last = exc
    assert last is not None
    raise last
