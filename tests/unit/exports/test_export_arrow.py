"""Parquet files read back with pyarrow and pandas, and `datasets` folders with `load_from_disk`."""
from __future__ import annotations

import json

import datasets
import pyarrow.parquet as pq
import pytest

from exports.formats import FORMATS, FormatSpec


def test_parquet_has_typed_columns_one_file_per_split(items_of, specs, write_twice):
    folder, written = write_twice("parquet", items_of["classification"](), specs["classification"])
    assert [path.name for path in written] == ["train.parquet", "validation.parquet", "test.parquet"]
    table = pq.read_table(folder / "train.parquet")
    assert table.column_names == ["id", "text", "label", "confidence", "annotators", "result", "annotations"]
    assert table.column("id").to_pylist() == [101, 104, 110]
    assert table.column("label").to_pylist() == ["交通出行", "交通出行", "城乡建设"]
    first = table.to_pylist()[0]
    assert first["annotations"][1] == {"annotator": "标注员B", "label": "城乡建设",
                                       "result": json.dumps([{"from_name": "label", "to_name": "text", "type": "choices",
                                                              "value": {"choices": ["城乡建设"]}}],
                                                            ensure_ascii=False, separators=(",", ":"), sort_keys=True)}
    frame = pq.read_table(folder / "test.parquet").to_pandas()
    assert frame["text"].tolist() == ["退休人员异地就医备案怎么办理？"] and frame["confidence"].tolist() == [0.875]


def test_parquet_metadata_holds_no_time(items_of, specs, tmp_path):
    FORMATS["parquet"](items_of["classification"](), tmp_path, specs["classification"])
    metadata = pq.ParquetFile(tmp_path / "train.parquet").metadata
    assert metadata.created_by.startswith("parquet-cpp-arrow version")
    keys = set(metadata.metadata or {})
    assert keys <= {b"ARROW:schema"}, keys


def test_parquet_row_groups_are_bounded(builders, specs, tmp_path, monkeypatch):
    monkeypatch.setattr("exports.formats.parquet.ROW_GROUP", 2)
    item, choice = builders["item"], builders["choice"]
    items = [item(i, {"text": f"第{i}封来信"}, label="交通出行", result=[choice("交通出行")]) for i in range(1, 6)]
    FORMATS["parquet"]((entry for entry in items), tmp_path, specs["classification"])
    file = pq.ParquetFile(tmp_path / "train.parquet")
    assert [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)] == [2, 2, 1]
    assert file.read().column("id").to_pylist() == [1, 2, 3, 4, 5]


def test_parquet_of_spans_has_entities_tokens_and_tags(items_of, specs, write_twice):
    folder, _ = write_twice("parquet", items_of["spans"](), specs["spans"])
    row = pq.read_table(folder / "train.parquet").to_pylist()[0]
    assert row["entities"] == [{"start": 15, "end": 17, "label": "自首", "text": "自首"}]
    tagged = dict(zip(row["tokens"], row["ner_tags"], strict=True))
    assert tagged["自"] == "B-自首" and tagged["首"] == "I-自首" and tagged["系"] == "O"
    third = pq.read_table(folder / "test.parquet").to_pylist()[0]
    assert third["entities"][0]["text"] == "累犯"  # UTF-16 offsets from the editor, read right


def test_parquet_of_boxes_has_pixel_boxes_and_picture_sizes(items_of, specs, write_twice):
    folder, _ = write_twice("parquet", items_of["boxes"](), specs["boxes"])
    train = pq.read_table(folder / "train.parquet").to_pylist()[0]
    assert (train["image_width"], train["image_height"]) == (640, 480)
    assert [(o["label"], o["bbox"]) for o in train["objects"]] == [
        ("鸟巢", pytest.approx([64, 96, 160, 240])), ("绝缘子破损", pytest.approx([320, 240, 320, 240]))]
    empty = pq.read_table(folder / "test.parquet").to_pylist()[0]
    assert (empty["image_width"], empty["image_height"], empty["objects"]) == (200, 100, [])


def test_hf_folder_loads_with_three_splits_and_class_labels(items_of, specs, write_twice):
    folder, written = write_twice("hf", items_of["classification"](), specs["classification"])
    assert folder / "dataset_dict.json" in written
    loaded = datasets.load_from_disk(str(folder))
    assert list(loaded) == ["train", "validation", "test"]
    assert loaded["train"].num_rows == 3 and loaded["validation"].num_rows == 1
    feature = loaded["train"].features["label"]
    assert isinstance(feature, datasets.ClassLabel) and feature.names == ["交通出行", "城乡建设", "社会保障"]
    assert [feature.int2str(i) for i in loaded["train"]["label"]] == ["交通出行", "交通出行", "城乡建设"]
    assert loaded["test"][0]["text"] == "退休人员异地就医备案怎么办理？"


def test_hf_folder_of_no_items_still_loads_three_empty_splits(specs, tmp_path):
    # datasets 5.2 left alone saves an empty split as zero shards that load_from_disk cannot read.
    FORMATS["hf"](iter(()), tmp_path / "hf", specs["spans"])
    loaded = datasets.load_from_disk(str(tmp_path / "hf"))
    assert {split: loaded[split].num_rows for split in loaded} == {"train": 0, "validation": 0, "test": 0}
    assert loaded["train"].features["ner_tags"].feature.names[:2] == ["O", "B-自首"]


def test_hf_multi_label_is_a_list_of_class_labels(builders, tmp_path):
    item, choice = builders["item"], builders["choice"]
    spec = FormatSpec("classification", ("text",), ("外观划痕", "色差", "功能异常"), multi_label=True)
    FORMATS["hf"]([item(1, {"text": "外壳有划痕，颜色偏黄。"}, result=[choice("色差|外观划痕")])], tmp_path / "hf", spec)
    train = datasets.load_from_disk(str(tmp_path / "hf"))["train"]
    assert train.features["label"].feature.names == ["外观划痕", "色差", "功能异常"]
    assert train[0]["label"] == [0, 1]


def test_hf_spans_have_ner_tags_as_class_labels(items_of, specs, write_twice):
    folder, _ = write_twice("hf", items_of["spans"](), specs["spans"])
    validation = datasets.load_from_disk(str(folder))["validation"]
    names = validation.features["ner_tags"].feature.names
    assert names[:3] == ["O", "B-自首", "I-自首"]
    tags = [names[i] for i in validation[0]["ner_tags"]]
    assert tags[validation[0]["tokens"].index("坦")] == "B-坦白"


def test_hf_boxes_and_pairwise_and_text(items_of, specs, tmp_path):
    for kind in ("boxes", "pairwise", "text"):
        FORMATS["hf"](items_of[kind](), tmp_path / kind, specs[kind])
    boxes = datasets.load_from_disk(str(tmp_path / "boxes"))["train"]
    objects = boxes[0]["objects"]
    assert [boxes.features["objects"].feature["label"].int2str(o["label"]) for o in objects] == ["鸟巢", "绝缘子破损"]
    pairwise = datasets.load_from_disk(str(tmp_path / "pairwise"))
    assert pairwise["validation"].features["label"].names == ["left", "right"]
    assert pairwise["validation"][0]["label"] == 1
    answers = datasets.load_from_disk(str(tmp_path / "text"))["test"]
    assert answers[0]["answer"] == "年满80周岁的老人可持身份证到户籍所在地社区申请。"


def test_hf_refuses_a_label_outside_the_label_set_naming_the_task(builders, specs, tmp_path):
    item, choice = builders["item"], builders["choice"]
    with pytest.raises(ValueError, match="task 5: label '教育' is not in the label set"):
        FORMATS["hf"]([item(5, {"text": "学校"}, label="教育", result=[choice("教育")])], tmp_path / "hf",
                      specs["classification"])
    assert not any(path.name.startswith(".hf-build-") for path in tmp_path.iterdir())
