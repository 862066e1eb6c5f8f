"""The format registry: which formats fit which jobs, and the errors a caller sees when one does not."""
from __future__ import annotations

import pytest

from exports.formats import (
    FORMATS,
    KINDS,
    ExportItem,
    FormatSpec,
    formats_for,
    writer_for,
)


def test_registry_lists_the_kinds_each_format_fits():
    assert {name: sorted(writer.kinds) for name, writer in FORMATS.items()} == {
        "jsonl": sorted(KINDS), "csv": sorted(KINDS), "parquet": sorted(KINDS), "hf": sorted(KINDS),
        "coco": ["boxes"], "voc": ["boxes"], "yolo": ["boxes"], "conll": ["spans"], "chat": ["text"]}
    assert formats_for("spans") == ["jsonl", "csv", "parquet", "hf", "conll"]


@pytest.mark.parametrize("name,kind", [("coco", "classification"), ("yolo", "spans"), ("conll", "boxes"),
                                       ("chat", "pairwise"), ("voc", "text")])
def test_a_format_that_does_not_fit_the_job_is_refused_naming_both(name, kind, tmp_path):
    with pytest.raises(ValueError, match=rf"format '{name}' does not fit a {kind} job"):
        writer_for(name, kind)
    spec = FormatSpec(kind, ("text", "image", "question"))
    with pytest.raises(ValueError, match=rf"format '{name}' does not fit a {kind} job"):
        FORMATS[name]([], tmp_path / "out", spec)
    assert not (tmp_path / "out").exists()


def test_an_unknown_format_is_refused_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"format 'xlsx' is unknown \(formats: jsonl, csv, .*\); kind 'boxes'"):
        writer_for("xlsx", "boxes")


@pytest.mark.parametrize("arguments,message", [
    ({"kind": "video", "fields": ("text",)}, "kind: one of"),
    ({"kind": "classification", "fields": ()}, "fields: distinct"),
    ({"kind": "classification", "fields": ("text",), "labels": ("甲", "甲")}, "labels: each label once"),
    ({"kind": "spans", "fields": ("content",)}, "a spans job exports 'text'"),
    ({"kind": "text", "fields": ("question",), "context_field": "passage"}, "exports 'passage'"),
    ({"kind": "text", "fields": ("question",), "chat_style": "sharegpt"}, "chat_style"),
])
def test_a_spec_that_cannot_describe_a_job_is_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        FormatSpec(**arguments)


@pytest.mark.parametrize("name", ["jsonl", "csv", "parquet", "conll"])
def test_an_item_in_an_unknown_split_is_refused_naming_the_task(name, tmp_path):
    spec = FormatSpec("spans", ("text",), ("自首",))
    stray = ExportItem(id=7, data={"text": "系自首"}, split="dev", label=None, result=[], confidence=1.0, annotators=2)
    with pytest.raises(ValueError, match="task 7: split 'dev' is not one of train, validation, test"):
        FORMATS[name]([stray], tmp_path, spec)


def test_a_data_field_named_like_an_export_column_is_refused_for_flat_formats(tmp_path):
    spec = FormatSpec("classification", ("id", "text"), ("甲", "乙"))
    with pytest.raises(ValueError, match="data field 'id' has the name of an export column"):
        FORMATS["csv"]([], tmp_path, spec)
    assert FORMATS["jsonl"]([], tmp_path, spec)  # nested data: no clash
