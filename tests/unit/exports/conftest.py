"""Shared builders for the dataset-format tests: items of each kind of job, little pictures, byte digests.

Helpers are exposed as fixtures (not imported) so the tests work under any pytest import mode.
Items are made here, in the register of the templates' samples (citizens' letters, judgments,
power-line inspection pictures, tourism questions); pictures are drawn with Pillow.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from exports.formats import ExportItem, FormatSpec, LocalImage

DEPARTMENTS = ("交通出行", "城乡建设", "社会保障")
CIRCUMSTANCES = ("自首", "坦白", "累犯", "认罪认罚")
DEFECTS = ("绝缘子破损", "鸟巢", "线路异物")


def choice(label: str) -> dict[str, Any]:
    return {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": label.split("|")}}


def span(text: str, quoted: str, label: str, *, offset: int = 0) -> dict[str, Any]:
    """A Labels region over the first `quoted` in `text` (offsets shifted by `offset`, as the editor may)."""
    start = text.index(quoted)
    return {"from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start + offset, "end": start + len(quoted) + offset, "text": quoted, "labels": [label]}}


def rectangle(label: str, x: float, y: float, w: float, h: float, size: tuple[int, int] | None,
              rotation: float = 0) -> dict[str, Any]:
    region: dict[str, Any] = {"from_name": "label", "to_name": "image", "type": "rectanglelabels",
                              "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation,
                                        "rectanglelabels": [label]}}
    if size:
        region["original_width"], region["original_height"] = size
    return region


def item(task_id: int, data: dict[str, Any], split: str = "train", *, label: str | None = None,
         result: list[dict[str, Any]] | None = None, annotations: list[dict] | None = None) -> ExportItem:
    return ExportItem(id=task_id, data=data, split=split, label=label, result=result or [],
                      confidence=0.875, annotators=3, annotations=annotations)


def classification_items() -> list[ExportItem]:
    rows = ((101, "我家门口的公交站牌被撞坏了，什么时候能修好？", "交通出行", "train"),
            (102, "小区旁边的空地一直堆放建筑垃圾，应该向哪个部门反映？", "城乡建设", "validation"),
            (103, "退休人员异地就医备案怎么办理？", "社会保障", "test"),
            (104, "Line 2 地铁早高峰太挤，能否加开班次？", "交通出行", "train"))
    made = [item(task_id, {"text": text}, split, label=label, result=[choice(label)])
            for task_id, text, label, split in rows]
    made[0] = replace(made[0], annotations=[{"annotator": "标注员A", "label": "交通出行", "result": [choice("交通出行")]},
                                            {"annotator": "标注员B", "label": "城乡建设", "result": [choice("城乡建设")]}])
    # The label only in the result: writers read it from the choices.
    return [*made, item(110, {"text": "路灯不亮，请尽快维修"}, "train", result=[choice("城乡建设")])]


def span_items() -> list[ExportItem]:
    first = "被告人张某某作案后主动投案，系自首，依法可以从轻处罚。"
    second = "被告人李某到案后如实供述，系坦白；签署认罪认罚具结书 No.2024-17 号。"
    # A character beyond the BMP before the span: the editor counts it twice (UTF-16), Python once.
    third = "𠀋被告人王某某系累犯，应当从重处罚。"
    return [item(201, {"text": first}, "train", result=[span(first, "自首", "自首")]),
            item(202, {"text": second}, "validation",
                 result=[span(second, "坦白", "坦白"), span(second, "认罪认罚", "认罪认罚")]),
            item(203, {"text": third}, "test", result=[span(third, "累犯", "累犯", offset=1)]),
            item(204, {"text": "   "}, "train")]


def text_items() -> list[ExportItem]:
    def answer(text: str) -> list[dict[str, Any]]:
        return [{"from_name": "answer", "to_name": "prompt", "type": "textarea", "value": {"text": [text]}}]
    return [item(301, {"question": "住房公积金能用来付房租吗？", "context": "本市公积金提取办法（2024年修订）"}, "train",
                 result=answer("可以。连续足额缴存满3个月且本人及配偶在本市无自有住房的，可按月提取。")),
            item(302, {"question": "高龄津贴怎么申请？", "context": ""}, "test",
                 result=answer("年满80周岁的老人可持身份证到户籍所在地社区申请。"))]


def pairwise_items() -> list[ExportItem]:
    def chosen(side: str) -> list[dict[str, Any]]:
        return [{"from_name": "preference", "to_name": "preference", "type": "pairwise", "value": {"selected": side}}]
    return [item(401, {"prompt": "国庆节去梵净山需要提前预约吗？", "answer_a": "需要实名预约。", "answer_b": "不需要。"},
                 "train", result=chosen("left")),
            item(402, {"prompt": "荔波小七孔门票含观光车吗？", "answer_a": "包含。", "answer_b": "通常分开购买。"},
                 "validation", result=chosen("right"))]


def draw_pictures(folder: Path) -> dict[str, LocalImage]:
    """Three pictures (PNG 640x480, JPEG 320x240, PNG 200x100), keyed by their media URL."""
    folder.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, size, colour in (("a.png", (640, 480), (135, 180, 220)), ("b.jpg", (320, 240), (90, 120, 60)),
                               ("c.png", (200, 100), (200, 200, 200))):
        path = folder / name
        Image.new("RGB", size, colour).save(path)
        found[f"/media/{name}"] = LocalImage(path)
    return found


def box_items() -> list[ExportItem]:
    return [item(501, {"image": "/media/a.png"}, "train",
                 result=[rectangle("鸟巢", 10, 20, 25, 50, (640, 480)), rectangle("绝缘子破损", 50, 50, 50, 50, (640, 480))]),
            item(502, {"image": "/media/b.jpg"}, "validation",
                 result=[rectangle("线路异物", 12.5, 25, 37.5, 12.5, (320, 240))]),
            item(503, {"image": "/media/c.png"}, "test")]  # no boxes: the size comes from the file


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder`, by relative path."""
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="session")
def builders() -> dict[str, Callable[..., Any]]:
    return {"item": item, "choice": choice, "span": span, "rectangle": rectangle, "digests": digests}


@pytest.fixture
def pictures(tmp_path) -> dict[str, LocalImage]:
    return draw_pictures(tmp_path / "media")


@pytest.fixture
def specs(pictures) -> dict[str, FormatSpec]:
    """One spec per kind of job, as the templates define them."""
    return {"classification": FormatSpec("classification", ("text",), DEPARTMENTS),
            "spans": FormatSpec("spans", ("text",), CIRCUMSTANCES),
            "text": FormatSpec("text", ("question", "context"), context_field="context"),
            "pairwise": FormatSpec("pairwise", ("prompt", "answer_a", "answer_b")),
            "boxes": FormatSpec("boxes", ("image",), DEFECTS, images=pictures)}


@pytest.fixture(scope="session")
def items_of() -> dict[str, Callable[[], list[ExportItem]]]:
    return {"classification": classification_items, "spans": span_items, "text": text_items,
            "pairwise": pairwise_items, "boxes": box_items}


@pytest.fixture
def write_twice(tmp_path) -> Callable[..., tuple[Path, list[Path]]]:
    """Write a format twice (from a one-pass generator each time) and assert both trees have the same bytes."""
    def write(name: str, items: list[ExportItem], spec: FormatSpec) -> tuple[Path, list[Path]]:
        from exports.formats import FORMATS

        def once(folder: Path) -> list[Path]:
            return FORMATS[name]((entry for entry in items), folder, spec)

        first, second = tmp_path / f"{name}-1", tmp_path / f"{name}-2"
        written = once(first)
        once(second)
        assert digests(first) and digests(first) == digests(second)
        assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(name)) == [
            f"{name}-1", f"{name}-2"]  # no scratch left beside them
        assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]
        return first, written
    return write
