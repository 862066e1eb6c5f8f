"""Synthetic power-line inspection pictures, drawn here with Pillow: sample data, never downloaded.

A picture shows sky, ground, two lattice towers, hanging insulator strings and the conductors
between them, plus 0-2 defects (a broken insulator, a bird nest, a foreign object on a line)
whose boxes are returned as the answer key, in Label Studio's percent coordinates. The same
seed gives the same picture and boxes.

Templates cannot point sample items at served URLs yet, so they carry placeholders,
`sample://power-line/<seed>.png`; `sample_image` turns such a placeholder back into PNG bytes,
for whatever later stores and serves media.
"""
from __future__ import annotations

import io
import random
import re

from PIL import Image, ImageDraw, ImageOps

BROKEN_INSULATOR, BIRD_NEST, FOREIGN_OBJECT = "绝缘子破损", "鸟巢", "线路异物"
DEFECTS = (BROKEN_INSULATOR, BIRD_NEST, FOREIGN_OBJECT)
SAMPLE_PREFIX = "sample://power-line/"
MIN_SIZE = (160, 120)  # below this the towers and defects no longer read as such

_STEEL, _CONDUCTOR, _PORCELAIN = (70, 72, 80), (35, 35, 38), (205, 210, 220)
_SAMPLE_NAME = re.compile(r"(?:sample://)?power-line/(\d{1,6})\.png")

Box = tuple[float, float, float, float]  # left, top, right, bottom in pixels
Point = tuple[float, float]


def power_line_image(seed: int, size: tuple[int, int] = (640, 480)) -> tuple[bytes, list[dict]]:
    """A PNG for `seed` and its defect boxes: [{"label", "x", "y", "w", "h"}] in percent."""
    width, height = size
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        raise ValueError(f"size: at least {MIN_SIZE[0]}x{MIN_SIZE[1]} pixels (got {width}x{height})")
    rng = random.Random(seed)
    defects = rng.sample(DEFECTS, rng.choice([0, 1, 1, 2]))
    image = _sky(rng, size)
    draw = ImageDraw.Draw(image)
    _ground(draw, rng, size)
    boxes: list[tuple[str, Box]] = []
    arms = [_tower(draw, rng, size, centre) for centre in (0.2, 0.78)]
    if BIRD_NEST in defects:
        boxes.append((BIRD_NEST, _bird_nest(draw, rng, rng.choice(arms[0] + arms[1]), width)))
    strings = [point for tower in arms for point in tower]
    broken = rng.randrange(len(strings)) if BROKEN_INSULATOR in defects else -1
    ends = []
    for i, top in enumerate(strings):
        end, box = _insulator(draw, top, height * 0.07, width, broken=i == broken)
        ends.append(end)
        if i == broken:
            boxes.append((BROKEN_INSULATOR, box))
    spans = _conductors(draw, ends, size)
    if FOREIGN_OBJECT in defects:
        boxes.append((FOREIGN_OBJECT, _foreign_object(draw, rng, rng.choice(spans), width)))
    return _png(image), [_percent(label, box, size) for label, box in boxes]


def sample_url(seed: int) -> str:
    """The placeholder a sample item carries for picture `seed`."""
    return f"{SAMPLE_PREFIX}{seed}.png"


def sample_image(name: str) -> bytes:
    """The PNG behind a placeholder (`sample://power-line/3.png` or `power-line/3.png`)."""
    match = _SAMPLE_NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"no sample image is called {name!r} (expected {SAMPLE_PREFIX}<seed>.png)")
    return power_line_image(int(match.group(1)))[0]


def _sky(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    top = (rng.randint(60, 110), rng.randint(120, 160), rng.randint(190, 235))
    horizon = (rng.randint(200, 230), rng.randint(215, 235), rng.randint(230, 250))
    gradient = Image.linear_gradient("L").resize(size)  # black at the top, white at the bottom
    return ImageOps.colorize(gradient, black=top, white=horizon)


def _ground(draw: ImageDraw.ImageDraw, rng: random.Random, size: tuple[int, int]) -> None:
    width, height = size
    ridge = [(width * i / 8, height * rng.uniform(0.8, 0.86)) for i in range(9)]
    green = (rng.randint(70, 100), rng.randint(115, 145), rng.randint(60, 80))
    draw.polygon([(0, height), *ridge, (width, height)], fill=green)


def _tower(draw: ImageDraw.ImageDraw, rng: random.Random, size: tuple[int, int],
           centre: float) -> list[Point]:
    """A lattice tower; returns the cross-arm tips the insulator strings hang from."""
    width, height = size
    x = width * (centre + rng.uniform(-0.04, 0.04))
    base, top = height * 0.9, height * rng.uniform(0.14, 0.2)
    half_base, half_top = width * 0.05, width * 0.012
    line = max(1, width // 320)
    left = [(x - half_base, base), (x - half_top, top)]
    right = [(x + half_base, base), (x + half_top, top)]
    draw.line(left, fill=_STEEL, width=line * 2)
    draw.line(right, fill=_STEEL, width=line * 2)
    levels = 7
    heights = [base - (base - top) * i / levels for i in range(levels + 1)]
    halves = [half_base - (half_base - half_top) * i / levels for i in range(levels + 1)]
    for i in range(levels):  # cross-bracing: an X per storey
        draw.line([(x - halves[i], heights[i]), (x + halves[i + 1], heights[i + 1])], fill=_STEEL, width=line)
        draw.line([(x + halves[i], heights[i]), (x - halves[i + 1], heights[i + 1])], fill=_STEEL, width=line)
    tips = []
    for arm_y, reach in ((top + height * 0.03, 0.085), (top + height * 0.13, 0.07)):
        draw.line([(x - width * reach, arm_y), (x + width * reach, arm_y)], fill=_STEEL, width=line * 2)
        tips += [(x - width * reach * 0.9, arm_y), (x + width * reach * 0.9, arm_y)]
    return tips


def _insulator(draw: ImageDraw.ImageDraw, top: Point, length: float, width: int, *,
               broken: bool) -> tuple[Point, Box]:
    """A string of discs below `top`; returns where the conductor attaches, and its box."""
    x, y = top
    discs, radius = 5, max(3.0, width * 0.009)
    step = length / discs
    for i in range(discs):
        cy = y + step * (i + 0.5)
        disc = (x - radius, cy - step * 0.35, x + radius, cy + step * 0.35)
        if broken and i == 2:  # a cracked, scorched disc with a piece missing
            draw.ellipse(disc, fill=(95, 70, 50), outline=(40, 30, 25))
            draw.pieslice(disc, 300, 60, fill=(25, 20, 18))
            draw.line([(x - radius, cy - 2), (x, cy + 2), (x + radius * 0.6, cy - 1)], fill=(20, 20, 20), width=1)
        else:
            draw.ellipse(disc, fill=_PORCELAIN, outline=(120, 125, 135))
    end = (x, y + length)
    return end, (x - radius - 3, y - 2, x + radius + 3, y + length + 3)


def _conductors(draw: ImageDraw.ImageDraw, ends: list[Point], size: tuple[int, int]) -> list[list[Point]]:
    """Sagging spans between the towers and off both edges; returns the span between the towers."""
    width, height = size
    half = len(ends) // 2
    between = []
    for left, right in zip(ends[:half], ends[half:]):
        outer_left = (0.0, left[1] - height * 0.02)
        outer_right = (float(width), right[1] - height * 0.02)
        for a, b in ((outer_left, left), (right, outer_right)):
            draw.line(_sag(a, b, height * 0.03), fill=_CONDUCTOR, width=max(1, width // 320))
        span = _sag(left, right, height * 0.08)
        draw.line(span, fill=_CONDUCTOR, width=max(1, width // 320))
        between.append(span)
    return between


def _sag(a: Point, b: Point, depth: float, steps: int = 40) -> list[Point]:
    """Points of a parabola from a to b hanging `depth` pixels below the chord at mid-span."""
    return [(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t + 4 * depth * t * (1 - t))
            for t in (i / steps for i in range(steps + 1))]


def _bird_nest(draw: ImageDraw.ImageDraw, rng: random.Random, tip: Point, width: int) -> Box:
    """A tangle of twigs sitting on a cross-arm, a little inboard of its tip."""
    x, y = tip[0] + rng.choice([-1, 1]) * width * 0.02, tip[1]
    rx, ry = width * 0.03, width * 0.016
    draw.ellipse((x - rx, y - ry * 1.6, x + rx, y + ry * 0.4), fill=(105, 75, 45))
    for _ in range(40):
        x0, y0 = x + rng.uniform(-rx, rx), y + rng.uniform(-ry * 1.6, ry * 0.4)
        shade = rng.randint(60, 140)
        draw.line([(x0, y0), (x0 + rng.uniform(-rx / 2, rx / 2), y0 + rng.uniform(-ry / 2, ry / 2))],
                  fill=(shade, int(shade * 0.7), int(shade * 0.4)), width=1)
    return (x - rx * 1.5, y - ry * 2.4, x + rx * 1.5, y + ry * 1.2)


def _foreign_object(draw: ImageDraw.ImageDraw, rng: random.Random, span: list[Point], width: int) -> Box:
    """A torn plastic sheet snagged on a conductor, hanging below it."""
    x, y = span[rng.randint(len(span) // 4, 3 * len(span) // 4)]
    w, h = width * rng.uniform(0.03, 0.05), width * rng.uniform(0.04, 0.06)
    colour = rng.choice([(210, 40, 40), (40, 90, 200), (235, 235, 235)])
    sheet = [(x - w / 2, y), (x + w / 2, y), (x + w * 0.3, y + h * 0.7), (x + w * 0.05, y + h),
             (x - w * 0.2, y + h * 0.75), (x - w * 0.45, y + h * 0.85)]
    draw.polygon(sheet, fill=colour, outline=(30, 30, 30))
    return (x - w / 2 - 2, y - 3, x + w / 2 + 2, y + h + 2)


def _percent(label: str, box: Box, size: tuple[int, int]) -> dict:
    width, height = size
    left, top = max(0.0, box[0]), max(0.0, box[1])
    right, bottom = min(float(width), box[2]), min(float(height), box[3])
    x, y = round(100 * left / width, 2), round(100 * top / height, 2)
    # widths from the rounded edges, so x + w never passes 100 through rounding
    return {"label": label, "x": x, "y": y, "w": round(round(100 * right / width, 2) - x, 2),
            "h": round(round(100 * bottom / height, 2) - y, 2)}


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
