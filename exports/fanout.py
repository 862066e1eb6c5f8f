"""One stream, several readers: each batch of a single pass over the query goes to every format's writer.

The writers pull their input (`for batch in batches`), so each runs in its own thread reading a
short queue, while the calling thread produces the batches once and hands every one to each queue
in turn. Every writer thus sees the same batches in the same order (the same bytes as separate
passes), memory holds at most QUEUED batches per writer, and the query runs once, not once per
format. Arrow, compression and file writes release the GIL, so the writers and the database
overlap a little; the point is reading and decoding the rows only once.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from queue import Queue
from typing import Generic, TypeVar

Batch = TypeVar("Batch")
QUEUED = 2  # batches waiting per reader: enough to keep a reader busy, few enough for flat memory
_END, _ABORT = object(), object()


class _Aborted(Exception):
    """Raised inside a reader when the producer failed: its writer unwinds (closing its files)."""


class _Feed(Generic[Batch]):
    """What one reader iterates: the batches put into its queue, until the end (or an abort)."""

    def __init__(self) -> None:
        self.queue: Queue = Queue(maxsize=QUEUED)
        self.ended = False  # the end (or the abort) was taken from the queue

    def __iter__(self) -> Iterator[Batch]:
        while (batch := self.queue.get()) is not _END:
            if batch is _ABORT:
                self.ended = True
                raise _Aborted
            yield batch
        self.ended = True

    def drain(self) -> None:
        """Discard what is still coming (its reader failed or stopped early), so the producer never blocks on it."""
        while not self.ended:
            batch = self.queue.get()
            self.ended = batch is _END or batch is _ABORT


def fan_out(batches: Iterable[Batch], readers: list[Callable[[Iterable[Batch]], object]]) -> None:
    """Run every reader over the same `batches`, produced once; once all readers have stopped,
    re-raise the first failure (the producer's, or a reader's, which stops the producer)."""
    feeds = [_Feed() for _ in readers]
    failures: list[BaseException] = []

    def run(read: Callable[[Iterable[Batch]], object], feed: _Feed) -> None:
        try:
            read(feed)
        except _Aborted:
            pass
        except BaseException as problem:  # noqa: BLE001 - raised again in the calling thread
            failures.append(problem)
        finally:
            feed.drain()

    threads = [threading.Thread(target=run, args=(read, feed), name=f"export-writer-{index}", daemon=True)
               for index, (read, feed) in enumerate(zip(readers, feeds, strict=True))]
    for thread in threads:
        thread.start()
    try:
        for batch in batches:
            if failures:
                break
            for feed in feeds:
                feed.queue.put(batch)
    except BaseException as problem:
        failures.insert(0, problem)
    finally:
        for feed in feeds:
            feed.queue.put(_ABORT if failures else _END)
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
