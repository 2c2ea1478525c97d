"""The reaper: a plugin's processes never outlive their worker, however the worker ends.

One small helper process per worker process, started on first use, reads lines on its stdin:
"+PGID" / "-PGID" (a process group the worker started, or no longer owns) and "!KEY ARGV-JSON" /
"~KEY" (a command to run should the worker die, e.g. `docker kill NAME`). Only the worker holds
the other end of that pipe, so EOF means the worker is gone, by exit or SIGKILL alike: the reaper
then sends SIGTERM to every group still registered, SIGKILL after GRACE_SECONDS, runs the
commands, and exits. A worker that exits cleanly has nothing registered: the reaper just exits.

It also fences for a worker that cannot: after "=SECONDS" the worker sends "." every so often,
and a reaper that hears nothing for that long (the worker is frozen, say by SIGSTOP, or stuck)
kills every registered group as above, while others may still take it for alive: a retry of
its jobs elsewhere then never runs beside the old plugins. It keeps serving the worker after.

This file is also the reaper's program (`python -I -S reaper.py`): its imports are kept to the
standard library so that starting it costs one small interpreter start, once per worker.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

GRACE_SECONDS = 1.0


class Reaper:
    """The worker's side: tells the reaper process what to clean up after it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: set[int] = set()
        self._commands: dict[str, list[str]] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._owner = 0  # the pid that started the reaper process (a forked copy must not use it)
        self._deadline: float | None = None

    def watch(self, pgid: int) -> None:
        with self._lock:
            self._groups.add(pgid)
            self._send(f"+{pgid}")

    def unwatch(self, pgid: int) -> None:
        with self._lock:
            if pgid in self._groups:
                self._groups.discard(pgid)
                self._send(f"-{pgid}")

    def on_death(self, key: str, argv: list[str]) -> None:
        """Run `argv` should the worker die before `cancel_on_death(key)`."""
        with self._lock:
            self._commands[key] = argv
            self._send(f"!{key} {json.dumps(argv)}")

    def cancel_on_death(self, key: str) -> None:
        with self._lock:
            if self._commands.pop(key, None) is not None:
                self._send(f"~{key}")

    def keepalive(self, seconds: float | None) -> None:
        """From now on, kill every registered group if no `ping` comes for `seconds` (None: never)."""
        with self._lock:
            self._deadline = seconds
            if self._process is not None and self._owner == os.getpid():
                self._send(f"={seconds or ''}")

    def ping(self) -> None:
        """I am alive (only to a reaper already running: a ping starts none)."""
        with self._lock:
            if self._process is not None and self._owner == os.getpid():
                self._send(".")

    def close(self) -> None:
        """Let the reaper go (it cleans up what is still registered, then exits)."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None and self._owner == os.getpid() and process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()

    def forget_after_fork(self) -> None:
        # A forked child must not hold the pipe open (the reaper would miss its worker's death),
        # nor share the parent's registrations.
        self._lock = threading.Lock()
        process, self._process = self._process, None
        if process is not None and process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        self._groups.clear()
        self._commands.clear()
        self._deadline = None

    def _send(self, line: str) -> None:
        data = (line + "\n").encode()
        for _ in range(2):  # a reaper that died is replaced once, and told everything again
            process = self._ensure_started()
            assert process.stdin is not None
            try:
                os.write(process.stdin.fileno(), data)
                return
            except OSError:
                self._process = None
                data = self._state() + data

    def _state(self) -> bytes:
        """Everything a new reaper must be told."""
        lines = [f"+{g}\n" for g in self._groups] + [f"!{k} {json.dumps(a)}\n" for k, a in self._commands.items()]
        if self._deadline is not None:
            lines.append(f"={self._deadline}\n")
        return "".join(lines).encode()

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._owner != os.getpid():
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(__file__)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # not in the worker's group: it must outlive a kill of that group
            )
            self._owner = os.getpid()
            assert self._process.stdin is not None
            os.write(self._process.stdin.fileno(), self._state())  # what a new reaper must know
        return self._process


_reaper = Reaper()
os.register_at_fork(after_in_child=_reaper.forget_after_fork)
atexit.register(_reaper.close)

keepalive = _reaper.keepalive
ping = _reaper.ping
watch = _reaper.watch
unwatch = _reaper.unwatch
on_death = _reaper.on_death
cancel_on_death = _reaper.cancel_on_death
shutdown = _reaper.close


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill(pgids: set[int], sig: int) -> None:
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def _reap(groups: set[int], commands: dict[str, list[str]]) -> None:
    _kill(groups, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and any(_alive(g) for g in groups):
        time.sleep(0.05)
    _kill(groups, signal.SIGKILL)
    for argv in commands.values():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False)


def main() -> None:
    """The reaper process: collect registrations until EOF, then clean up and exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups: set[int] = set()
    commands: dict[str, list[str]] = {}
    keepalive: float | None = None
    heard = time.monotonic()
    fd = sys.stdin.fileno()
    pending = b""
    while True:
        wait = None if keepalive is None else max(0.0, heard + keepalive - time.monotonic())
        if not select.select([fd], [], [], wait)[0]:
            # Silent past its deadline: the worker is frozen or stuck. Fence for it.
            _reap(groups, commands)
            groups, commands, heard = set(), {}, time.monotonic()
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        heard = time.monotonic()
        *lines, pending = (pending + chunk).split(b"\n")
        for raw in lines:
            line = raw.decode()
            with contextlib.suppress(ValueError, IndexError):
                if line[0] == "+":
                    groups.add(int(line[1:]))
                elif line[0] == "-":
                    groups.discard(int(line[1:]))
                elif line[0] == "!":
                    key, _, argv = line[1:].partition(" ")
                    commands[key] = json.loads(argv)
                elif line[0] == "~":
                    commands.pop(line[1:], None)
                elif line[0] == "=":
                    keepalive = float(line[1:]) if line[1:] else None
    _reap(groups, commands)


if __name__ == "__main__":
    main()
