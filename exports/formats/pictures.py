"""Pictures of box jobs: each item's local file, its size as the editor saw it, its boxes in pixels.

The size comes from the boxes' `original_width`/`original_height` when the result has them (that
is the picture the annotators boxed), else from the image source, else from the file's header
(turned upright by its Exif orientation, as the editor shows it).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from exports.formats.items import ExportItem, FormatSpec
from exports.formats.regions import Box, boxes, label_index, region_size

# Exif orientations that turn the picture by 90 degrees (width and height swap when shown upright).
_TURNED = frozenset({5, 6, 7, 8})
_SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp"}


@dataclass(frozen=True)
class Picture:
    path: Path  # the local file
    width: int
    height: int
    boxes: list[Box]

    @property
    def suffix(self) -> str:
        """The file's extension, lower case (from its content when the name has none)."""
        if self.path.suffix:
            return self.path.suffix.lower()
        with Image.open(self.path) as image:
            return _SUFFIXES.get(image.format or "", ".img")


def upright_size(path: Path) -> tuple[int, int]:
    """Width and height of the picture as shown, read from the file's header."""
    with Image.open(path) as image:
        width, height = image.size
        turned = image.getexif().get(0x0112) in _TURNED
    return (height, width) if turned else (width, height)


def picture(item: ExportItem, spec: FormatSpec) -> Picture:
    """The item's picture and boxes; ValueError naming the task for a missing file or an unknown label."""
    local = spec.locate(item)
    size = region_size(item) or ((local.width, local.height) if local.width and local.height
                                 else upright_size(Path(local.path)))
    found = boxes(item, size)
    for box in found:
        label_index(spec, box.label, item)
    return Picture(Path(local.path), size[0], size[1], found)


def known_size(item: ExportItem, spec: FormatSpec) -> tuple[int, int] | None:
    """The picture's size when the result or the image source can tell (no file needed otherwise)."""
    size = region_size(item)
    if size is None and spec.images is not None:
        found = picture(item, spec)
        size = (found.width, found.height)
    return size


def copy_picture(found: Picture, folder: Path, stem: str) -> Path:
    """Copy the picture's bytes unchanged to `folder/<stem><suffix>`; return the new path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}{found.suffix}"
    shutil.copyfile(found.path, target)
    return target
