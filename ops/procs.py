"""Start, watch and stop the processes we own, each in its own process group with a pidfile."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
PIDS = RUN / "pids"
LOGS = RUN / "logs"
# The Popen objects of what this process started, kept until stopped so none is collected
# (and warned about) while its process still runs.
_children: dict[int, subprocess.Popen] = {}


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:  # our own child: poll() reaps it, or it would linger as a zombie
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(name: str) -> int | None:
    """The pid of our process `name` if it is still alive."""
    path = PIDS / f"{name}.pid"
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    return pid if pid and pid_alive(pid) else None


def start(name: str, argv: list[str], env: Mapping[str, str], cwd: Path = ROOT) -> int:
    """Start `argv` detached in a new session; log to .run/logs/<name>.log; return its pid."""
    PIDS.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / f"{name}.log").open("ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _children[proc.pid] = proc
    (PIDS / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def wait_until(check: Callable[[], bool], what: str, timeout: float, pid: int | None = None,
               log_name: str | None = None) -> None:
    """Poll `check` until it holds; fail with the log's tail if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if pid is not None and not pid_alive(pid):
            break
        time.sleep(0.5)
    tail = ""
    if log_name and (LOGS / f"{log_name}.log").exists():
        tail = "\n".join((LOGS / f"{log_name}.log").read_text(errors="replace").splitlines()[-25:])
    state = "exited" if pid is not None and not pid_alive(pid) else f"not ready after {timeout:.0f} s"
    raise RuntimeError(f"{what} {state}; last log lines:\n{tail}")


def stop(name: str, timeout: float = 15.0) -> bool:
    """Stop our process group `name` (TERM, then KILL); return whether one was running."""
    path = PIDS / f"{name}.pid"
    pid = running_pid(name)
    if pid is None:
        path.unlink(missing_ok=True)
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 5.0  # reap it: a child dropped unreaped warns as still running
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.1)
    path.unlink(missing_ok=True)
    _children.pop(pid, None)
    return True


def stop_all(prefix: str = "") -> list[str]:
    """Stop every process we recorded whose name starts with `prefix`."""
    stopped = []
    for path in sorted(PIDS.glob(f"{prefix}*.pid")) if PIDS.exists() else []:
        if stop(path.stem):
            stopped.append(path.stem)
    return stopped
