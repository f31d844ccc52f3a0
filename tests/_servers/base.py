from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

INSTALL_HINTS = {
    "redis-server": "apt-get install -y redis-server",
    "memcached": "apt-get install -y memcached",
    "postgres": "apt-get install -y postgresql (PostgreSQL 15)",
    "initdb": "apt-get install -y postgresql (PostgreSQL 15)",
    "mariadbd": "apt-get install -y mariadb-server",
    "mariadb-install-db": "apt-get install -y mariadb-server",
    "openssl": "apt-get install -y openssl",
}


class ServerUnavailable(RuntimeError):
    """A server binary is missing; the message says how to install it."""


def require_binary(name: str) -> str:
    # Debian keeps server binaries off PATH: mariadbd in /usr/sbin, PostgreSQL's per version.
    candidates = [Path("/usr/sbin") / name,
                  *sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)]
    path = shutil.which(name) or next((str(p) for p in candidates if p.exists()), None)
    if path is None:
        hint = INSTALL_HINTS.get(name, f"install {name}")
        raise ServerUnavailable(f"{name} not found on PATH; install it with: {hint}")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, proc: "ServerProcess | None" = None) -> None:
    """Poll ``check`` until it is true; bounded in time, fails fast if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.running:
            raise RuntimeError(f"{what} exited with {proc.returncode}; log:\n{proc.log_tail()}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    tail = proc.log_tail() if proc is not None else ""
    raise TimeoutError(f"{what} did not answer within {timeout}s\n{tail}")


def tcp_command(host: str, port: int, payload: bytes, expect: bytes, timeout: float = 1.0) -> bool:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(payload)
        return expect in sock.recv(4096)


def make_tempdir(prefix: str, owner: str | None = None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"altcache-{prefix}-"))
    if owner is not None and os.geteuid() == 0:
        shutil.chown(path, owner, owner)
    return path


def _proc_stat(path: str) -> list[str] | None:
    """The fields of a /proc .../stat file after the command name, or None when it is gone."""
    try:
        with open(path) as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat(f"/proc/{entry}/stat")
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _signal_each(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _all_threads_stopped(pid: int) -> bool:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True  # gone
    states = [_proc_stat(f"/proc/{pid}/task/{task}/stat") for task in tasks]
    return all(fields is None or fields[0] in ("T", "t", "Z", "X") for fields in states)


def _is_running(pid: int) -> bool:
    fields = _proc_stat(f"/proc/{pid}/stat")
    return fields is not None and fields[0] != "Z"


class ServerProcess:
    """One server process in its own session, so a Ctrl-C to the runner does not race our stop."""

    def __init__(self, argv: Sequence[str], *, name: str, log_path: Path, user: str | None = None,
                 cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.name = name
        self.log_path = log_path
        self.user = user if (user is not None and os.geteuid() == 0) else None
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        log = open(self.log_path, "ab")
        try:
            self._proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.cwd, user=self.user, start_new_session=True,
            )
        finally:
            log.close()

    def kill(self, timeout: float = 10) -> None:
        """SIGKILL to the process and every descendant (see ``freeze``): an abrupt outage, as a
        crashed server, with no child left serving the connections it already had."""
        children = self._descendants()
        _signal_each(children, signal.SIGKILL)
        self._signal_and_wait(signal.SIGKILL, timeout)
        deadline = time.monotonic() + timeout
        while any(_is_running(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.01)

    def _descendants(self) -> list[int]:
        return descendants(self._proc.pid) if self._proc is not None and self._proc.poll() is None else []

    def freeze(self, timeout: float = 5) -> None:
        """SIGSTOP the process and every descendant: the kernel still accepts connections and
        buffers requests, but nothing answers (a hung server, the worst outage for a client).

        Descendants are signalled one by one because some leave the process group
        (every PostgreSQL backend calls setsid()). Returns once every thread is stopped: the
        signal is delivered asynchronously, and a multi-threaded server (mariadbd, memcached)
        was measured answering a request sent right after the signal.
        """
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGSTOP)  # first: a stopped parent forks no new children
        family = [self._proc.pid, *self._descendants()]
        _signal_each(family[1:], signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        while not all(_all_threads_stopped(pid) for pid in family):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not stopped {timeout} s after SIGSTOP")
            time.sleep(0.001)

    def thaw(self) -> None:
        """SIGCONT after ``freeze``, to every process ``freeze`` stopped."""
        if self._proc is not None and self._proc.poll() is None:
            _signal_each(self._descendants(), signal.SIGCONT)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGCONT)

    def stop(self, timeout: float = 10) -> None:
        if not self.running:
            return
        self.thaw()  # a stopped process would not act on SIGTERM
        if not self._signal_and_wait(signal.SIGTERM, timeout):
            self._signal_and_wait(signal.SIGKILL, 10)

    def _signal_and_wait(self, sig: int, timeout: float) -> bool:
        if self._proc is None or self._proc.poll() is not None:
            return True
        try:
            os.killpg(self._proc.pid, sig)
        except ProcessLookupError:
            return True
        try:
            self._proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class ManagedServer:
    """A started server process and its address; subclasses say how to tell it is ready."""

    port: int
    dir: Path
    process: ServerProcess
    host: str = "127.0.0.1"

    start_timeout: ClassVar[float] = 20
    stop_timeout: ClassVar[float] = 10

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        self.process.start()
        wait_until(self.ready, timeout=self.start_timeout,
                   what=f"{self.process.name} on port {self.port}", proc=self.process)

    def kill(self) -> None:
        """SIGKILL, as a crash; ``start()`` brings it back on the same port and directory."""
        self.process.kill()

    def freeze(self) -> None:
        """SIGSTOP the server and its children, returning once they are all stopped
        (see ServerProcess.freeze); ``thaw()`` resumes it."""
        self.process.freeze()

    def thaw(self) -> None:
        self.process.thaw()

    def stop(self) -> None:
        self.process.stop(timeout=self.stop_timeout)


S = TypeVar("S", bound=ManagedServer)


@contextlib.contextmanager
def running(server: S, *, setup: Callable[[S], None] | None = None) -> Iterator[S]:
    """Start ``server``, run ``setup`` on it, yield it; always stop it and remove its directory."""
    try:
        server.start()
        if setup is not None:
            setup(server)
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
