"""A Parquet-only build's columns made in Arrow (`exports.build._column_batches`) hold what the
general path's rows hold: each label as the Parquet writer shows it, each result as its compact
JSON, each confidence rounded as `rounded` rounds it, each manifest digest as `answer_digest` gives it."""
from __future__ import annotations

import json
import math
from functools import lru_cache

import pyarrow as pa

from exports.build import _Answers, _parse_result, answer_digest, rounded, rounded_column
from exports.formats import FormatSpec, ItemBatch, parquet

LABELS = ("交通出行", "NA", 'say "hi"')
RESULTS = [json.dumps([{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}],
                      ensure_ascii=False) for label in LABELS] + ["null", "[]"]


def test_confidences_are_rounded_as_rounded_rounds_them_zeros_keeping_their_sign():
    values = [0.1234567, 0.875, 0.1234567, 0.0, -0.0, 1 / 3, 2 / 3, 1.0, 0.30000000000000004, -0.0]
    made = rounded_column(pa.array(values, pa.float64())).to_pylist()
    assert made == rounded(values)
    assert [math.copysign(1, value) for value in made] == [math.copysign(1, value) for value in rounded(values)]


def test_labels_results_and_digests_are_those_of_the_general_path():
    spec = FormatSpec(kind="classification", fields=("text",), labels=LABELS)
    labels = [LABELS[0], None, LABELS[1], None, LABELS[2], None, LABELS[0]]
    texts = [RESULTS[0], RESULTS[2], RESULTS[1], RESULTS[3], RESULTS[2], RESULTS[4], RESULTS[2]]
    made_labels, made_results, digests = _Answers(spec, lru_cache(answer_digest)).of(
        pa.array(labels).dictionary_encode(), pa.array(texts).dictionary_encode())
    batch = ItemBatch(list(range(len(labels))), [{"text": "x"}] * len(labels), ["train"] * len(labels), labels,
                      [_parse_result(text) for text in texts], [0.5] * len(labels), [3] * len(labels))
    general = parquet.columns(batch, spec)
    assert made_labels.to_pylist() == general["label"] == [LABELS[0], LABELS[2], LABELS[1], None, LABELS[2], None,
                                                          LABELS[0]]
    assert made_results.to_pylist() == general["result"]
    assert digests.tolist() == [answer_digest(label, text) for label, text in zip(labels, texts, strict=True)]
