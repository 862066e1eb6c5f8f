"""readahead.read_ahead: order, errors, its bound on values made ahead, and stopping."""
from __future__ import annotations

import sys
import threading
import time

import pytest

from readahead import prompt_gil, read_ahead


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


def test_prompt_gil_shortens_the_switch_interval_and_restores_it():
    before = sys.getswitchinterval()
    with prompt_gil(0.0002):
        assert sys.getswitchinterval() == pytest.approx(0.0002)
    assert sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), prompt_gil(0.0002):
        raise RuntimeError("the block failed")
    assert sys.getswitchinterval() == before
