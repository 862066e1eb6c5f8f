"""The shuffle outside the database (PostgreSQL's fast path) gives exactly the database's order, in
whole chunks, with bounded spill files that are gone afterwards; the faster split assignment gives
exactly the item-by-item one."""
from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import create_engine, literal_column, select

from exports import shuffle
from exports.splits import StratifiedSplitter, shuffle_key, shuffle_keys


def tables_of(ids: list[int], size: int) -> list[pa.Table]:
    """The ids in tables of `size` rows, each with a text column that must travel with its id."""
    return [pa.table({"id": pa.array(ids[start:start + size], pa.int64()),
                      "text": [f"第{number}条" for number in ids[start:start + size]]})
            for start in range(0, len(ids), size)]


@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3])
def test_shuffle_keys_are_the_database_keys(seed):
    ids = [1, 2, 3, 1000, 65_537, 2**31 - 1]
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        for task_id in ids:
            expected = connection.scalar(select(shuffle_key(literal_column(str(task_id)), seed)))
            assert int(shuffle_keys(np.array([task_id]), seed)[0]) == expected


@pytest.mark.parametrize("seed", [0, 11, 2**32 - 1])
def test_one_sort_key_orders_as_shuffle_key_then_id(seed):
    ids = np.array([1, 2, 3, 2**31 - 1, 2**31, 2**32 - 1, 40_000, 39_999], np.int64)
    expected = np.lexsort((ids, shuffle_keys(ids, seed)))
    assert np.argsort(shuffle._sort_keys(ids, seed)).tolist() == expected.tolist()


def test_rows_come_in_key_then_id_order_in_whole_chunks_and_leave_no_files(tmp_path, monkeypatch):
    monkeypatch.setattr(shuffle, "FANOUT_BITS", 3)  # 2,000 rows: 8 buckets of about 250 rows,
    monkeypatch.setattr(shuffle, "BUCKET_ROWS", 20)  # each bucketed again, most of them twice
    monkeypatch.setattr(shuffle, "PENDING_ROWS", 300)  # several writes per bucket file
    ids = list(range(1, 2001))
    random.Random(5).shuffle(ids)
    seed = 11
    split = []
    original = shuffle._Buckets._split
    monkeypatch.setattr(shuffle._Buckets, "_split", lambda self, bucket: split.append(self.low_bit) or original(self, bucket))
    chunks = list(shuffle.shuffled(tables_of(ids, 170), seed, tmp_path, 128))
    assert {29, 26} <= set(split)  # buckets were bucketed again, at two levels
    order = [number for chunk in chunks for number in chunk.column("id").to_pylist()]
    keys = shuffle_keys(np.array(ids), seed).tolist()
    assert order == [number for _, number in sorted(zip(keys, ids))]
    assert all(chunk.column("text").to_pylist() == [f"第{number}条" for number in chunk.column("id").to_pylist()]
               for chunk in chunks)
    assert [chunk.num_rows for chunk in chunks] == [128] * 15 + [2000 - 15 * 128]
    assert list(tmp_path.iterdir()) == []


def test_a_consumer_that_stops_early_leaves_no_files(tmp_path, monkeypatch):
    monkeypatch.setattr(shuffle, "FANOUT_BITS", 2)
    monkeypatch.setattr(shuffle, "BUCKET_ROWS", 10)
    stream = shuffle.shuffled(tables_of(list(range(1, 301)), 40), 3, tmp_path, 16)
    next(stream)
    assert list(tmp_path.iterdir())  # the buckets not yet read
    stream.close()
    assert list(tmp_path.iterdir()) == []


def test_an_empty_query_gives_no_chunks(tmp_path):
    assert list(shuffle.shuffled([], 1, tmp_path, 10)) == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (1 / 3, 1 / 3, 1 / 3), (0.7, 0.3, 0.0), (0.0, 0.0, 1.0)])
def test_splits_of_a_batch_are_those_given_one_item_at_a_time(ratios):
    rng = random.Random(str(ratios))
    labels = [rng.choice(["生态环境", "交通运输", None, "市场监管"]) for _ in range(3000)]
    one_by_one, in_batches = StratifiedSplitter(ratios, 9), StratifiedSplitter(ratios, 9)
    expected = [one_by_one.assign(label) for label in labels]
    assert [split for start in range(0, len(labels), 701)
            for split in in_batches.assign_all(labels[start:start + 701])] == expected


@pytest.mark.parametrize(("ratios", "periodic"), [((0.8, 0.1, 0.1), True), ((1 / 3, 1 / 3, 1 / 3), True),
                                                  ((0.7, 0.3, 0.0), True), ((0.123, 0.456, 0.421), False)])
def test_long_runs_of_splits_guessed_in_bulk_are_those_given_one_item_at_a_time(ratios, periodic, monkeypatch):
    rng = random.Random(f"long {ratios}")
    labels = [rng.choice(["生态环境", "交通运输"]) for _ in range(40_000)]
    one_by_one, in_batches = StratifiedSplitter(ratios, 3), StratifiedSplitter(ratios, 3)
    checked = []
    original = StratifiedSplitter._checked
    monkeypatch.setattr(StratifiedSplitter, "_checked",
                        lambda self, label, guess: checked.append(len(guess)) or original(self, label, guess))
    expected = [one_by_one.assign(label) for label in labels]
    assert [split for start in range(0, len(labels), 10_000)
            for split in in_batches.assign_all(labels[start:start + 10_000])] == expected
    assert bool(checked) == periodic  # bulk guesses were made and checked where the choices repeat
