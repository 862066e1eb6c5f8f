"""CoNLL / BIO files for span jobs (named entities): one `token<TAB>tag` per line, a blank line between items.

Tokens: each CJK character is a token of its own, a run of other letters and digits (Latin words,
numbers) is one token, any other visible character (punctuation) is one token, and whitespace
is dropped. A token belongs to a span when they overlap; where spans overlap each other, the one
starting first (then the longest) keeps its tokens, since BIO cannot nest.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from exports.formats.items import ExportItem, FormatSpec, check_split
from exports.formats.outputs import split_files, split_paths
from exports.formats.regions import Span, spans

# CJK ideographs (with extensions and compatibility forms), kana and Hangul syllables.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af\U00020000-\U0003134f"
_TOKEN = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])[^\W_])+|\S")


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # character offsets into the item's text, end exclusive
    end: int


def tokenize(text: str) -> list[Token]:
    """The text's tokens with their offsets (see the module docstring for the rules)."""
    return [Token(match.group(), match.start(), match.end()) for match in _TOKEN.finditer(text)]


def bio_tags(tokens: list[Token], found: list[Span]) -> list[str]:
    """B-LABEL on a span's first token, I-LABEL on the rest, O elsewhere; earlier spans win overlaps."""
    tags = ["O"] * len(tokens)
    for span in found:
        inside = [i for i, token in enumerate(tokens)
                  if token.start < span.end and token.end > span.start and tags[i] == "O"]
        for position, i in enumerate(inside):
            tags[i] = ("B-" if position == 0 else "I-") + span.label
    return tags


def bio_names(labels: Iterable[str]) -> list[str]:
    """The tag set for a label set: O, then B- and I- of each label in order."""
    return ["O", *(f"{prefix}-{label}" for label in labels for prefix in ("B", "I"))]


def tagged_tokens(item: ExportItem, spec: FormatSpec) -> tuple[list[Token], list[str], list[Span]]:
    """The item's text as tokens, their BIO tags, and the consensus spans they come from."""
    text = item.data.get(spec.text_field)
    text = text if isinstance(text, str) else ""
    tokens, found = tokenize(text), spans(item, text)
    return tokens, bio_tags(tokens, found), found


def write_conll(items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
    """`{split}.conll`; items whose text has no token are left out (they would read as no sentence)."""
    with split_files(folder, "{split}.conll") as files:
        for item in items:
            out = files[check_split(item)]
            tokens, tags, _ = tagged_tokens(item, spec)
            if tokens:
                out.write("".join(f"{token.text}\t{tag}\n" for token, tag in zip(tokens, tags, strict=True)) + "\n")
    return split_paths(folder, "{split}.conll")
