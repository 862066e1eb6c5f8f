"""Reading a consensus result (Label Studio regions) as what datasets hold: labels, answers, spans, boxes.

Regions look like `{"from_name", "to_name", "type", "value"}` (see tasks/results.py); boxes are in
percent of the picture with `original_width`/`original_height` beside them, spans are character
offsets into the text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from exports.formats.items import ExportItem, FormatSpec, ItemBatch


@dataclass(frozen=True)
class Span:
    start: int  # character offsets into the text, end exclusive
    end: int
    label: str
    text: str


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels of the upright picture, inside its bounds."""
    label: str
    x: float
    y: float
    width: float
    height: float


def _values(item: ExportItem, key: str) -> list[dict[str, Any]]:
    """The `value` of each region that carries `key`, in result order."""
    return [region["value"] for region in item.result
            if isinstance(region, dict) and isinstance(region.get("value"), dict) and key in region["value"]]


def classification_label(item: ExportItem) -> str | None:
    """The consensus label; read from the result's choices ("a|b" for several) when the item has none."""
    if item.label is not None:
        return item.label
    picked = next((value["choices"] for value in _values(item, "choices") if value["choices"]), None)
    return "|".join(sorted(picked)) if picked else None


def pairwise_choice(item: ExportItem) -> str | None:
    """Which answer won a comparison ("left" or "right" as Label Studio says), if decided."""
    if item.label is not None:
        return item.label
    return next((value["selected"] for value in _values(item, "selected")), None)


def item_label(item: ExportItem, spec: FormatSpec) -> str | None:
    """The label a flat row shows: the class, the winning side of a comparison, else the item's own."""
    if spec.kind == "classification":
        return classification_label(item)
    if spec.kind == "pairwise":
        return pairwise_choice(item)
    return item.label


def batch_labels(batch: ItemBatch, spec: FormatSpec) -> list[str | None]:
    """`item_label` of each item of the batch; only the unlabeled items have their result read."""
    return [label if label is not None else item_label(batch.item(row), spec) for row, label in enumerate(batch.labels)]


def answer_text(item: ExportItem) -> str | None:
    """The consensus free-text answer (a TextArea's lines joined by newlines), if there is one."""
    for region in item.result:
        if isinstance(region, dict) and region.get("type") == "textarea":
            text = region.get("value", {}).get("text")
            return "\n".join(text) if isinstance(text, list) else text
    return None


def label_index(spec: FormatSpec, label: str, item: ExportItem) -> int:
    """The position of `label` in the job's label set; ValueError naming the task if it is not there."""
    try:
        return spec.labels.index(label)
    except ValueError:
        raise ValueError(f"task {item.id}: label {label!r} is not in the label set "
                         f"({', '.join(spec.labels) or 'empty'})") from None


def spans(item: ExportItem, text: str) -> list[Span]:
    """The labelled spans of `text`, by start then longest first (one Span per label of a region)."""
    found = []
    for value in _values(item, "labels"):
        start, end = _offsets(text, value)
        found += [Span(start, end, label, text[start:end]) for label in value["labels"]]
    return sorted(found, key=lambda s: (s.start, -s.end, s.label))


def _offsets(text: str, value: dict[str, Any]) -> tuple[int, int]:
    start, end = int(value["start"]), int(value["end"])
    quoted = value.get("text")
    # The editor counts in UTF-16 units (JavaScript strings): characters beyond the BMP count twice.
    if isinstance(quoted, str) and text[start:end] != quoted:
        start, end = _from_utf16(text, start), _from_utf16(text, end)
        if text[start:end] != quoted:
            start, end = int(value["start"]), int(value["end"])
    return max(0, min(start, len(text))), max(0, min(end, len(text)))


def _from_utf16(text: str, units: int) -> int:
    count = 0
    for index, char in enumerate(text):
        if count >= units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
    return len(text)


def region_size(item: ExportItem) -> tuple[int, int] | None:
    """The picture's size as the editor saw it (`original_width`/`original_height`), if a region says."""
    for region in item.result:
        if isinstance(region, dict) and region.get("original_width") and region.get("original_height"):
            return int(region["original_width"]), int(region["original_height"])
    return None


def boxes(item: ExportItem, size: tuple[int, int] | None) -> list[Box]:
    """The labelled rectangles in pixels of a (width, height) picture; rotated ones become their
    enclosing box, empty ones are dropped. ValueError if there are rectangles but no size."""
    values = _values(item, "rectanglelabels")
    if values and size is None:
        raise ValueError(f"task {item.id}: boxes but no picture size (no original_width/original_height "
                         "in the result and no image source)")
    found = []
    for value in values:
        width, height = size
        corners = _corners(value, width, height)
        x0 = max(0.0, min(x for x, _ in corners))
        y0 = max(0.0, min(y for _, y in corners))
        x1 = min(float(width), max(x for x, _ in corners))
        y1 = min(float(height), max(y for _, y in corners))
        if x1 > x0 and y1 > y0:
            found += [Box(label, x0, y0, x1 - x0, y1 - y0) for label in value["rectanglelabels"]]
    return found


def _corners(value: dict[str, Any], width: int, height: int) -> list[tuple[float, float]]:
    """The rectangle's corners in pixels; the editor turns it clockwise about its top-left corner."""
    left, top = value["x"] / 100 * width, value["y"] / 100 * height
    w, h = value["width"] / 100 * width, value["height"] / 100 * height
    angle = math.radians(value.get("rotation") or 0)
    if not angle:
        return [(left, top), (left + w, top + h)]
    cos, sin = math.cos(angle), math.sin(angle)
    return [(left + dx * cos - dy * sin, top + dx * sin + dy * cos)
            for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
