"""One pass of the items feeding every format: each writer sees every batch in order, and a failure
on either side stops the rest and is raised, with no thread left waiting."""
from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import pytest

from exports.fanout import fan_out


def writer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("export-writer-")]


def closing_writer(closed: list[bool]):
    """A writer that reads everything and notes when it has unwound (as closing its files)."""
    def write(feed: Iterable[int]) -> None:
        try:
            for _ in feed:
                pass
        finally:
            closed.append(True)
    return write


def test_every_reader_gets_every_batch_in_order_from_one_pass():
    produced, seen = [], {"a": [], "b": []}

    def batches() -> Iterator[int]:
        for number in range(50):
            produced.append(number)
            yield number

    fan_out(batches(), [seen["a"].extend, lambda feed: seen["b"].extend(x * 10 for x in feed)])
    assert produced == list(range(50))
    assert seen == {"a": list(range(50)), "b": [x * 10 for x in range(50)]}


def test_a_failing_reader_stops_the_pass_and_its_error_is_raised():
    produced, closed = [], []

    def batches() -> Iterator[int]:
        for number in range(10_000):
            produced.append(number)
            yield number

    def picky(feed: Iterable[int]) -> None:
        for number in feed:
            if number == 3:
                raise ValueError("task 3: no local image")

    with pytest.raises(ValueError, match="task 3"):
        fan_out(batches(), [picky, closing_writer(closed)])
    assert len(produced) < 100  # the producer stopped soon after, instead of reading everything
    assert closed == [True]  # the other writer was unwound (its files closed)
    assert not writer_threads()


def test_a_failing_producer_unwinds_every_reader_and_raises():
    closed = []

    def batches() -> Iterator[int]:
        yield 1
        raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError, match="connection lost"):
        fan_out(batches(), [closing_writer(closed), closing_writer(closed)])
    assert closed == [True, True]
    assert not writer_threads()
