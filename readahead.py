"""Reading ahead: an iterator's next values computed in a helper thread while the caller works on
the current one, so that two cores work at once where one side lets go of the GIL (a database
server inserting a chunk in its own process while the next is parsed; the ADBC driver decoding
rows in C++ while the build writes the last ones).

Used by imports (`projects.imports`) and dataset builds (`exports.rows`): one implementation of
the hand-over, its bound on memory, its errors and its stopping.
"""
from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
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
