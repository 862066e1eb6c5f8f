"""COCO detection datasets for box jobs: `annotations/instances_<split>.json` and the pictures in `images/`.

Image ids are our task ids, category ids 1..n in the job's label order, annotation ids count from
1 in item order within each split; boxes are [x, y, width, height] in pixels (to 1/1000 pixel).
Each JSON file is streamed: images go straight to the file, annotations to a scratch file that
is appended at the end, so memory does not grow with the number of items.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from exports.formats.items import SPLITS, ExportItem, FormatSpec, check_split
from exports.formats.pictures import Picture, copy_picture, picture
from exports.formats.regions import Box, label_index

INFO = {"description": "Qianling dataset export", "version": "1.0"}  # no date: rebuilds give the same bytes


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _annotation(annotation_id: int, item: ExportItem, box: Box, category: int) -> dict[str, Any]:
    """One COCO annotation; the segmentation is the box's outline, for tools that want a polygon."""
    x0, y0, x1, y1 = (round(v, 3) for v in (box.x, box.y, box.x + box.width, box.y + box.height))
    return {"id": annotation_id, "image_id": item.id, "category_id": category,
            "bbox": [x0, y0, round(x1 - x0, 3), round(y1 - y0, 3)], "area": round((x1 - x0) * (y1 - y0), 3),
            "iscrowd": 0, "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]]}


class _SplitFile:
    """One split's JSON file, written in two streams (images now, annotations appended on close)."""

    def __init__(self, path: Path, out: TextIO, pending: TextIO, spec: FormatSpec) -> None:
        self.path, self.out, self.pending, self.images, self.next_id = path, out, pending, 0, 1
        categories = [{"id": i + 1, "name": label, "supercategory": "none"} for i, label in enumerate(spec.labels)]
        self.out.write(f'{{"info":{_dump(INFO)},"licenses":[],"categories":{_dump(categories)},"images":[\n')

    def add(self, item: ExportItem, found: Picture, file_name: str, spec: FormatSpec) -> None:
        image = {"id": item.id, "file_name": file_name, "width": found.width, "height": found.height}
        self.out.write(("," if self.images else "") + _dump(image) + "\n")
        self.images += 1
        for box in found.boxes:
            category = label_index(spec, box.label, item) + 1
            self.pending.write(("," if self.next_id > 1 else "") + _dump(_annotation(self.next_id, item, box, category))
                               + "\n")
            self.next_id += 1

    def finish(self) -> None:
        self.out.write('],"annotations":[\n')
        self.pending.seek(0)
        shutil.copyfileobj(self.pending, self.out)
        self.out.write("]}\n")


def write_coco(items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
    """One COCO JSON per split (empty splits too) and `images/<task id><ext>`; returns the JSON files and
    the images folder (not each picture, so the answer stays small however many there are)."""
    for name in ("annotations", "images"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        files = {}
        for split in SPLITS:
            path = folder / "annotations" / f"instances_{split}.json"
            # An unnamed scratch file beside the output: it disappears when closed, even after an error.
            pending = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8", dir=path.parent))
            files[split] = _SplitFile(path, stack.enter_context(path.open("w", encoding="utf-8")), pending, spec)
        for item in items:
            split_file = files[check_split(item)]
            found = picture(item, spec)
            copied = copy_picture(found, folder / "images", str(item.id))
            split_file.add(item, found, copied.name, spec)
        for split_file in files.values():
            split_file.finish()
    return [*(files[split].path for split in SPLITS), folder / "images"]
