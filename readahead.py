"""Reading ahead: an iterator's next values computed in a helper thread while the caller works on
the current one, so that two cores work at once where one side lets go of the GIL (a database
server inserting a chunk in its own process while the next is parsed; the ADBC driver decoding
rows in C++ while the build writes the last ones).

Used by imports (`projects.imports`) and dataset builds (`exports.rows`, `exports.shuffle`): one
implementation of the hand-over, its bound on memory, its errors and its stopping. `prompt_gil`
is for a caller that mostly waits on a server while the thread computes in Python. Where both
sides compute in Python (parsing a file while SQLite inserts in this process),
`read_ahead_process` makes the values in a process of its own instead: two threads would share
one GIL.
"""
from __future__ import annotations

import contextvars
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
_PIPE_BUFFER = 1 << 20
PROMPT_SWITCH = 1e-4  # seconds, see prompt_gil
_DONE = object()


class _Failed:
    """What the thread hands over when `source` raised (a value may itself be an exception)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(source: Iterable[T], *, depth: int = 1, name: str = "read-ahead") -> Iterator[T]:
    """`source`'s values in order, made by a thread named `name` while the caller works: at most
    `depth` values made and not yet taken by the caller (with depth 1, the next value is made
    while the caller holds the current one, and no further).

    An exception raised by `source` reaches the caller where the value would have, as it is.
    Closing the returned iterator (or stopping early) stops the thread after the value it is
    making, and closes `source`. The thread runs in a copy of the caller's context, so Flask's
    app context (`current_app`) holds there too."""
    handoff: queue.SimpleQueue = queue.SimpleQueue()  # bounded by `room`
    room = threading.Semaphore(depth)
    stop = threading.Event()

    def produce() -> None:
        values = iter(source)
        try:
            while room.acquire() and not stop.is_set():
                value = next(values, _DONE)
                handoff.put(value)
                if value is _DONE:
                    return
        except BaseException as err:  # why broad: re-raised in the caller's thread, as it is
            handoff.put(_Failed(err))
        finally:
            getattr(source, "close", lambda: None)()

    thread = threading.Thread(target=contextvars.copy_context().run, args=(produce,), name=name, daemon=True)
    thread.start()
    try:
        while (value := handoff.get()) is not _DONE:
            room.release()
            if isinstance(value, _Failed):
                raise value.error
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # wake a producer waiting for room, so that it sees the stop
            room.release()
            thread.join(0.05)


@contextmanager
def prompt_gil(interval: float = PROMPT_SWITCH) -> Iterator[None]:
    """Within the block, a thread that wants the GIL gets it after `interval` seconds of another
    thread's Python, not after Python's default 5 ms (`sys.setswitchinterval`, process-wide,
    restored after the block).

    For a caller that feeds a database server while a `read_ahead` thread parses: each time the
    caller came back from the server (a reply, room in the socket) it waited up to 5 ms for the
    parser to let go, and the server idled meanwhile. A 1M-row import into PostgreSQL ran at ~45k
    rows/s with the default and ~60k with 0.1 ms, for the same CPU: the server became its limit."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def read_ahead_process(make: Callable[..., Iterable[T]], *args: object) -> Iterator[T]:
    """`make(*args)`'s values in order, made in a new Python process while the caller works on
    the current one: at most the next value made and not yet taken (its sending waits for the
    caller to ask). `make` is a module-level function and `args` and the values pickle; the
    process imports `make`'s module and no more (not the caller's app, no Flask context).

    An exception raised by `make` reaches the caller where the value would have; one that does
    not pickle arrives as a RuntimeError naming it. Closing the returned iterator (or stopping
    early) kills the process."""
    with tempfile.TemporaryFile() as errors:  # stderr: read only if the process dies
        process = subprocess.Popen([sys.executable, "-m", "readahead"], cwd=Path(__file__).resolve().parent,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                   bufsize=_PIPE_BUFFER)
        try:
            with process.stdin:
                pickle.dump((make, args), process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            while True:
                try:
                    kind, value = pickle.load(process.stdout)
                except EOFError:
                    process.wait()
                    errors.seek(0)
                    tail = errors.read()[-2000:].decode("utf-8", "replace")
                    raise RuntimeError(f"the read-ahead process ended ({process.returncode}): {tail}") from None
                if kind == "done":
                    return
                if kind == "error":
                    raise value
                yield value
                del value  # why: before the next one is unpickled, not after
        finally:
            process.kill()
            process.wait()
            process.stdout.close()


def _serve() -> None:
    """The read-ahead process: run the pickled (make, args) from stdin, pickle what it yields to stdout."""
    make, args = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    try:
        for value in make(*args):  # pickled straight into the pipe: no copy of a large value's bytes
            pickle.dump(("value", value), out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
        out.write(pickle.dumps(("done", None)))
    except Exception as err:  # why broad: re-raised in the caller's process, as it is
        try:
            failure = pickle.dumps(("error", err), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # why broad: whatever made the error unpicklable; say what it was
            failure = pickle.dumps(("error", RuntimeError(f"{type(err).__name__}: {err}")))
        out.write(failure)
    out.flush()


if __name__ == "__main__":
    _serve()
