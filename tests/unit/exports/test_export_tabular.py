"""JSONL and CSV exports read back with the json and csv modules (and pandas), byte for byte repeatable."""
from __future__ import annotations

import csv
import json
from dataclasses import replace

import pandas as pd
import pytest

from exports.formats import FORMATS, FormatSpec
from exports.formats.items import item_batches


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_jsonl_has_one_file_per_split_with_chinese_unescaped(items_of, specs, write_twice):
    folder, written = write_twice("jsonl", items_of["classification"](), specs["classification"])
    assert [path.name for path in written] == ["train.jsonl", "validation.jsonl", "test.jsonl"]
    raw = (folder / "train.jsonl").read_bytes()
    assert "公交站牌".encode() in raw and b"\\u" not in raw and not raw.startswith(b"\xef\xbb\xbf")
    train = _lines(folder / "train.jsonl")
    assert [row["id"] for row in train] == [101, 104, 110]
    assert train[0]["data"] == {"text": "我家门口的公交站牌被撞坏了，什么时候能修好？"}
    assert train[0]["label"] == "交通出行" and train[0]["confidence"] == 0.875 and train[0]["annotators"] == 3
    assert [a["annotator"] for a in train[0]["annotations"]] == ["标注员A", "标注员B"]
    assert "annotations" not in train[1]
    assert train[2]["label"] == "城乡建设"  # read from the result's choices
    assert [row["id"] for row in _lines(folder / "test.jsonl")] == [103]


def test_jsonl_keeps_span_results_as_label_studio_wrote_them(items_of, specs, write_twice):
    items = items_of["spans"]()
    folder, _ = write_twice("jsonl", items, specs["spans"])
    assert _lines(folder / "validation.jsonl")[0]["result"] == items[1].result


def test_jsonl_lines_are_the_records_as_json_dumps_writes_them(builders, specs, tmp_path):
    item, choice = builders["item"], builders["choice"]
    items = [item(1, {"text": "第一封", "来源": "热线"}, label="交通出行", result=[choice("交通出行")]),
             item(2, {"text": "第二封"}, result=[choice("城乡建设")],
                  annotations=[{"annotator": "a-1", "label": "城乡建设", "result": [choice("城乡建设")]}]),
             item(3, {"text": "第三封"}, "train", label="社会保障")]
    # 1 == 1.0 == True as keys: each must keep its own text
    items = [replace(items[0], confidence=1), replace(items[1], confidence=1.0), replace(items[2], confidence=2 / 3)]
    FORMATS["jsonl"](items, tmp_path, specs["classification"])
    expected = []
    for entry in items:
        record = {"id": entry.id, "data": entry.data, "label": entry.label or "城乡建设", "result": entry.result,
                  "confidence": round(entry.confidence, 6), "annotators": entry.annotators}
        if entry.annotations is not None:
            record["annotations"] = entry.annotations
        expected.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    assert (tmp_path / "train.jsonl").read_text(encoding="utf-8") == "".join(expected)


@pytest.mark.parametrize("name", ["jsonl", "parquet"])
def test_columnar_files_do_not_depend_on_how_items_are_batched(name, items_of, specs, builders, tmp_path):
    items = items_of["classification"]()
    for size in (1, 2, 10_000):
        FORMATS[name].batches(item_batches(items, size), tmp_path / str(size), specs["classification"])
    assert builders["digests"](tmp_path / "1") == builders["digests"](tmp_path / "2") == builders["digests"](
        tmp_path / "10000")


def test_csv_has_a_header_data_columns_and_no_bom(items_of, specs, write_twice):
    folder, written = write_twice("csv", items_of["classification"](), specs["classification"])
    assert [path.name for path in written] == ["train.csv", "validation.csv", "test.csv"]
    raw = (folder / "train.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    with (folder / "train.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "text", "label", "confidence", "annotators"]
    assert rows[0] == {"id": "101", "text": "我家门口的公交站牌被撞坏了，什么时候能修好？", "label": "交通出行",
                       "confidence": "0.875", "annotators": "3"}
    assert [row["label"] for row in rows] == ["交通出行", "交通出行", "城乡建设"]
    frame = pd.read_csv(folder / "validation.csv")
    assert frame["text"].tolist() == ["小区旁边的空地一直堆放建筑垃圾，应该向哪个部门反映？"]
    assert frame["id"].tolist() == [102]


def test_csv_of_an_empty_split_is_just_the_header(items_of, specs, tmp_path):
    FORMATS["csv"](items_of["pairwise"](), tmp_path, specs["pairwise"])
    assert (tmp_path / "test.csv").read_bytes() == b"id,prompt,answer_a,answer_b,label,confidence,annotators\r\n"
    with (tmp_path / "validation.csv").open(encoding="utf-8", newline="") as handle:
        assert next(csv.DictReader(handle))["label"] == "right"  # the comparison's winner


def test_csv_quotes_commas_quotes_and_newlines_and_keeps_free_text_answers(items_of, specs, builders, tmp_path):
    item = builders["item"]
    awkward = item(9, {"question": '他说："先办证，再开业"\n第二行', "context": None}, "train",
                   result=[{"type": "textarea", "value": {"text": ["第一段", "第二段，有逗号"]}}])
    FORMATS["csv"]([awkward], tmp_path, specs["text"])
    with (tmp_path / "train.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["question"] == '他说："先办证，再开业"\n第二行' and row["context"] == ""
    assert row["answer"] == "第一段\n第二段，有逗号"


def test_csv_of_spans_carries_the_result_as_json(items_of, specs, tmp_path):
    items = items_of["spans"]()
    FORMATS["csv"](items, tmp_path, specs["spans"])
    with (tmp_path / "train.csv").open(encoding="utf-8", newline="") as handle:
        first = next(csv.DictReader(handle))
    assert json.loads(first["result"]) == items[0].result


@pytest.mark.parametrize("name", ["jsonl", "csv"])
def test_multi_label_is_joined_with_a_bar(name, builders, tmp_path):
    item, choice = builders["item"], builders["choice"]
    spec = FormatSpec("classification", ("text",), ("外观划痕", "色差", "功能异常"), multi_label=True)
    FORMATS[name]([item(1, {"text": "外壳有划痕，颜色偏黄。"}, result=[choice("色差|外观划痕")])], tmp_path, spec)
    text = (tmp_path / f"train.{name}").read_text(encoding="utf-8")
    assert "外观划痕|色差" in text
