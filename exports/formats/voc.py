"""Pascal VOC datasets for box jobs: `Annotations/<id>.xml`, `JPEGImages/<id><ext>`, `ImageSets/Main/<split>.txt`.

Pictures keep their own format and extension (the folder keeps VOC's name). Box corners are
whole pixels counted from 1, as in VOC's own files: a box over the 0-based pixel columns 64..191
is written xmin=65, xmax=192 (the reading that detectron2 and torchvision's VOC tools assume).
`labels.txt` lists the label set in the job's order, one per line. The XML is written by
ElementTree, which escapes markup characters; text is UTF-8, so Chinese names stay readable.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from exports.formats.items import ExportItem, FormatSpec, check_split
from exports.formats.outputs import split_files, split_paths
from exports.formats.pictures import Picture, copy_picture, picture


def _child(parent: ET.Element, tag: str, text: str | int | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def _corners(found: Picture, x: float, y: float, width: float, height: float) -> tuple[int, int, int, int]:
    """1-based inclusive pixel corners (xmin, ymin, xmax, ymax), inside the picture and never inverted."""
    xmin = min(max(1, round(x) + 1), found.width)
    ymin = min(max(1, round(y) + 1), found.height)
    return xmin, ymin, max(xmin, min(round(x + width), found.width)), max(ymin, min(round(y + height), found.height))


def annotation_xml(found: Picture, file_name: str, depth: int) -> bytes:
    """The VOC annotation of one picture, as UTF-8 XML with its declaration."""
    root = ET.Element("annotation")
    _child(root, "folder", "JPEGImages")
    _child(root, "filename", file_name)
    _child(_child(root, "source"), "database", "Qianling")
    size = _child(root, "size")
    for tag, value in (("width", found.width), ("height", found.height), ("depth", depth)):
        _child(size, tag, value)
    _child(root, "segmented", 0)
    for box in found.boxes:
        element = _child(root, "object")
        for tag, value in (("name", box.label), ("pose", "Unspecified"), ("truncated", 0), ("difficult", 0)):
            _child(element, tag, value)
        corners = _corners(found, box.x, box.y, box.width, box.height)
        bndbox = _child(element, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), corners, strict=True):
            _child(bndbox, tag, value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _depth(path: Path) -> int:
    with Image.open(path) as image:
        return len(image.getbands())


def write_voc(items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
    """The VOC folders; returns the split lists, labels.txt and the Annotations and JPEGImages folders."""
    (folder / "labels.txt").write_text("".join(f"{label}\n" for label in spec.labels), encoding="utf-8")
    for name in ("Annotations", "JPEGImages"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    with split_files(folder, "ImageSets/Main/{split}.txt", short=True) as lists:
        for item in items:
            listing = lists[check_split(item)]
            found = picture(item, spec)
            copied = copy_picture(found, folder / "JPEGImages", str(item.id))
            xml = annotation_xml(found, copied.name, _depth(copied))
            (folder / "Annotations" / f"{item.id}.xml").write_bytes(xml)
            listing.write(f"{item.id}\n")
    return [*split_paths(folder, "ImageSets/Main/{split}.txt", short=True), folder / "labels.txt",
            folder / "Annotations", folder / "JPEGImages"]
