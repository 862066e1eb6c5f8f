"""readahead.read_ahead and read_ahead_process: order, errors, the bound on values made ahead, and stopping."""
from __future__ import annotations

import io
import itertools
import os
import pickle
import sys
import threading
import time
from pathlib import Path

import pytest

import readahead
from readahead import read_ahead, read_ahead_process


def test_hands_over_values_and_errors_in_order_and_stops_when_closed():
    def source():
        yield from (1, 2)
        raise ValueError("broken file")

    values = read_ahead(source(), name="test-read-ahead")
    assert [next(values), next(values)] == [1, 2]
    with pytest.raises(ValueError, match="broken file"):
        next(values)
    endless = read_ahead(iter(range(10**9)), depth=3, name="test-read-ahead")
    assert next(endless) == 0
    endless.close()
    assert not [t for t in threading.enumerate() if t.name == "test-read-ahead"]


def test_an_exception_as_a_value_is_handed_over_not_raised():
    error = KeyError("a value")
    assert list(read_ahead([error, 1])) == [error, 1]


@pytest.mark.parametrize("depth", [1, 2])
def test_makes_at_most_depth_values_the_caller_has_not_taken(depth):
    made = []

    def source():
        for number in range(10):
            made.append(number)
            yield number

    values = read_ahead(source(), depth=depth)
    for taken in range(1, 6):
        assert next(values) == taken - 1
        time.sleep(0.05)  # time for the thread to run ahead as far as it may
        assert len(made) == taken + depth
    values.close()


def test_closing_closes_the_source_and_runs_its_cleanup():
    closed = threading.Event()

    def source():
        try:
            yield from range(100)
        finally:
            closed.set()

    values = read_ahead(source())
    next(values)
    values.close()
    assert closed.wait(1)



def _children() -> list[int]:
    """This process's child processes, zombies included (from /proc: the ppid follows the state)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(os.getpid()):
            found.append(int(stat.parent.name))
    return found


def test_a_process_hands_over_values_and_errors_in_order_and_is_killed_when_closed():
    before = _children()
    assert list(read_ahead_process(itertools.islice, "中文abcdef", 4)) == list("中文ab")
    with pytest.raises(FileNotFoundError, match="no-such-file"):
        next(read_ahead_process(open, "/nonexistent/no-such-file"))
    endless = read_ahead_process(itertools.count, 7)
    assert [next(endless), next(endless)] == [7, 8]
    endless.close()
    assert _children() == before


def test_a_process_that_dies_is_an_error_not_an_end():
    with pytest.raises(RuntimeError, match=r"read-ahead process ended \(3\)"):
        list(read_ahead_process(os._exit, 3))


class _Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def _fails_unpicklably():
    yield 1
    raise _Unpicklable()


def test_an_error_that_does_not_pickle_arrives_named(monkeypatch):
    class Stream:
        def __init__(self, data: bytes = b"") -> None:
            self.buffer = io.BytesIO(data)

    request, reply = Stream(pickle.dumps((_fails_unpicklably, ()))), Stream()
    monkeypatch.setattr(sys, "stdin", request)
    monkeypatch.setattr(sys, "stdout", reply)
    readahead._serve()
    reply.buffer.seek(0)
    assert pickle.load(reply.buffer) == ("value", 1)
    kind, error = pickle.load(reply.buffer)
    assert kind == "error" and isinstance(error, RuntimeError) and str(error) == "_Unpicklable: holds a lock"
