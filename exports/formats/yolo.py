"""YOLO (Ultralytics) datasets for box jobs: `images/<split>/`, `labels/<split>/<id>.txt`, `data.yaml`.

A label file has one `class cx cy w h` line per box, all four normalised to [0, 1] of the
picture's size (six decimals); a picture without boxes gets an empty file (a background image).
Splits are named train, val and test. `data.yaml` gives no `path`, so Ultralytics reads the
folders relative to the YAML file itself; it is written by hand (no YAML library needed) with
each name as a double-quoted scalar.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from exports.formats.items import SPLITS, ExportItem, FormatSpec, check_split
from exports.formats.outputs import SHORT_SPLIT
from exports.formats.pictures import Picture, copy_picture, picture
from exports.formats.regions import label_index


def yaml_quoted(text: str) -> str:
    """`text` as a YAML double-quoted scalar: JSON's escapes (which YAML shares) plus \\u for anything unprintable."""
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(char if char.isprintable() else
                   (f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}") for char in quoted)


def data_yaml(spec: FormatSpec) -> str:
    """The dataset description Ultralytics reads: split folders, class count and names by index."""
    lines = ["# YOLO dataset exported by Qianling; folders are relative to this file.",
             *(f"{SHORT_SPLIT[split]}: images/{SHORT_SPLIT[split]}" for split in SPLITS),
             f"nc: {len(spec.labels)}", "names:" if spec.labels else "names: {}",
             *(f"  {i}: {yaml_quoted(label)}" for i, label in enumerate(spec.labels))]
    return "\n".join(lines) + "\n"


def label_lines(item: ExportItem, found: Picture, spec: FormatSpec) -> str:
    """The picture's boxes as `class cx cy w h` lines, normalised to its width and height."""
    lines = []
    for box in found.boxes:
        cx, cy = (box.x + box.width / 2) / found.width, (box.y + box.height / 2) / found.height
        w, h = box.width / found.width, box.height / found.height
        lines.append(f"{label_index(spec, box.label, item)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(lines)


def write_yolo(items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
    """The YOLO folders; returns data.yaml and the images and labels folders."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.yaml").write_text(data_yaml(spec), encoding="utf-8")
    for split in SPLITS:
        for kind in ("images", "labels"):
            (folder / kind / SHORT_SPLIT[split]).mkdir(parents=True, exist_ok=True)
    for item in items:
        split = SHORT_SPLIT[check_split(item)]
        found = picture(item, spec)
        copy_picture(found, folder / "images" / split, str(item.id))
        (folder / "labels" / split / f"{item.id}.txt").write_text(label_lines(item, found, spec), encoding="utf-8")
    return [folder / "data.yaml", folder / "images", folder / "labels"]
