"""Template samples made servable: their `sample://` picture placeholders become stored media.

The templates carry sample items made here; pictures are drawn on demand (demo.images) and kept
in the media store, so the editor preview and demo imports load them like any uploaded image.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from demo.images import sample_image
from projects.imports import MEDIA_URL, media_store
from projects.templates import TEMPLATES

SAMPLE_SCHEME = "sample://"


@lru_cache(maxsize=256)
def _stored(placeholder: str, root: str) -> str:
    return MEDIA_URL + media_store().put(sample_image(placeholder), "png")


def servable(item: dict[str, Any]) -> dict[str, Any]:
    """The item with every sample:// placeholder replaced by the stored picture's URL."""
    root = str(media_store().root)
    return {key: _stored(value, root) if isinstance(value, str) and value.startswith(SAMPLE_SCHEME) else value
            for key, value in item.items()}


def sample_names() -> frozenset[str]:
    """The stored names of every template's sample pictures: synthetic, shown to anyone signed in."""
    return _sample_names(str(media_store().root))


@lru_cache(maxsize=8)
def _sample_names(root: str) -> frozenset[str]:  # per store, as `_stored`: made once, not per request
    prefix = len(MEDIA_URL)
    return frozenset(value[prefix:] for t in TEMPLATES.values() for item in t.sample_items()
                     for value in servable(item).values() if isinstance(value, str) and value.startswith(MEDIA_URL))


def catalog() -> list[dict[str, Any]]:
    """Every template with its default options, default config and servable sample items."""
    return [{"key": t.key, "title": t.title, "default_options": dict(t.default_options),
             "label_config": t.build(), "samples": [servable(item) for item in t.sample_items()]}
            for t in TEMPLATES.values()]
