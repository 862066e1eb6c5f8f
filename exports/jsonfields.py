"""String fields read out of JSON texts in bulk, with numpy over the texts' bytes, where the text is a
flat object as the intake writes it; every other text is left for json.loads.

A Parquet-only build exports a few data fields of each task. PostgreSQL reading them (`data->'text'`
over the `json` column, which it parses on every read) cost its server 1.3 s of CPU per million
rows, more than the rest of its query. The data comes whole instead, as its stored text (no work
for the server), and `string_fields` cuts the fields' values out of it: a text counts as *flat*
when it is `{"key":"value",...}` with nothing between the strings but the `{`, `:`, `,` and `}`
(the intake's compact JSON), every member a string, no backslash anywhere (so every `"` opens or
closes a string and each string's bytes are its value, undecoded), and no wanted key twice. Any
other text (spaces, numbers, null, nested values, escapes, a wanted key twice, no object at all) is
not flat, and its caller reads it with json.loads: the values given are exactly json.loads's
(PostgreSQL's json type, like json.loads, refuses raw control characters inside strings).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

_OPEN, _CLOSE, _QUOTE, _COLON, _COMMA, _BACKSLASH = (ord(sign) for sign in '{}":,\\')
_INLINE = 12  # a string view holds a value of up to 12 bytes itself


def string_fields(texts: pa.StringArray, names: Sequence[str]) -> tuple[list[pa.StringArray], np.ndarray]:
    """Which texts are flat objects (see the module), and each name's value in them as a string
    array (null where a flat object lacks the key, and in every text that is not flat)."""
    first, offsets, data = _string_bytes(texts)
    starts, ends = offsets[:-1], offsets[1:]
    flat = texts.is_valid().to_numpy(zero_copy_only=False) & (ends - starts >= 2)
    rows = np.flatnonzero(flat)
    flat[rows] = (data[starts[rows]] == _OPEN) & (data[ends[rows] - 1] == _CLOSE)
    flat[np.searchsorted(ends, np.flatnonzero(data == _BACKSLASH), side="right")] = False
    quotes = _Quotes(data, starts, ends)
    flat &= (quotes.count > 0) & (quotes.count % 4 == 0)
    flat[quotes.row[~quotes.in_place(starts, ends)]] = False
    found = [quotes.key_at(name, flat) for name in names]
    for keys in found:  # a key twice: json.loads keeps the last one
        flat[np.flatnonzero(np.bincount(quotes.row[keys], minlength=len(flat)) > 1)] = False
    body = texts.buffers()[2] or pa.py_buffer(b"")
    return [_cut(len(texts), body, first, quotes, keys[flat[quotes.row[keys]]]) for keys in found], flat


def _string_bytes(values: pa.StringArray) -> tuple[int, np.ndarray, np.ndarray]:
    """Where the values' bytes start in their buffer, their offsets from there, and those bytes,
    without copying: an array's (or a slice's) own bytes, not the whole buffer it may share."""
    count = len(values)
    offsets = np.frombuffer(values.buffers()[1], np.int32, count + 1, values.offset * 4) if count else np.zeros(1, np.int32)
    body = values.buffers()[2]
    data = np.frombuffer(body, np.uint8)[offsets[0]:offsets[-1]] if body is not None else np.zeros(0, np.uint8)
    return int(offsets[0]), (offsets - offsets[0]).astype(np.int64), data


class _Quotes:
    """The texts' double quotes: where each is, its text (`row`), its place among its text's quotes."""

    def __init__(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        self.at = np.flatnonzero(data == _QUOTE)
        first = np.searchsorted(self.at, starts)
        self.count = np.diff(np.append(first, len(self.at)))
        self.row = np.repeat(np.arange(len(starts)), self.count)
        self.place = np.arange(len(self.at)) - first[self.row]
        self.next = np.append(self.at[1:], -1)  # where the next quote is (in any text)
        self.after = data[np.minimum(self.at + 1, len(data) - 1)]  # the byte after each quote
        self.data = data

    def in_place(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Whether each quote is where a flat object's would be, the 4k-th to 4k+3-th of its text
        opening and closing its k-th key and value: the first right after the `{`, a `:` between a
        key and its value, a `,` between members, the last right before the `}`."""
        phase, row = self.place & 3, self.row
        last = self.place == self.count[row] - 1
        tight = self.next == self.at + 2
        return np.where(phase == 0, (self.place > 0) | (self.at == starts[row] + 1),
                        np.where(phase == 1, tight & (self.after == _COLON),
                                 np.where(phase == 3, np.where(last, self.at == ends[row] - 2,
                                                               tight & (self.after == _COMMA)), True)))

    def key_at(self, name: str, flat: np.ndarray) -> np.ndarray:
        """Indexes of the quotes opening `name` as a key in the flat texts."""
        wanted = np.frombuffer(name.encode(), np.uint8)
        keys = np.flatnonzero(((self.place & 3) == 0) & (self.next - self.at - 1 == len(wanted)))
        keys = keys[flat[self.row[keys]]]
        if len(wanted):
            keys = keys[(self.data[self.at[keys, None] + 1 + np.arange(len(wanted))] == wanted).all(axis=1)]
        return keys


def _cut(count: int, body: pa.Buffer, first: int, quotes: _Quotes, keys: np.ndarray) -> pa.StringArray:
    """The values of the keys opened by the quotes `keys` (one per text at most), as a string array
    of the `count` texts, null in the others: Arrow string views into the texts' buffer `body`
    (where their bytes start at `first`), 16 bytes per text made with numpy, then copied into a
    string array by Arrow's cast (cutting the bytes out with numpy cost twice as much)."""
    data = quotes.data
    starts, ends, rows = quotes.at[keys + 2] + 1, quotes.at[keys + 3], quotes.row[keys]
    lengths = ends - starts
    views = np.zeros((count, 16), np.uint8)  # length, then the value itself or its prefix, buffer 0, offset
    views[rows, :4] = lengths.astype("<i4").view(np.uint8).reshape(-1, 4)
    inline = lengths <= _INLINE
    spread = np.minimum(starts[inline, None] + np.arange(_INLINE), len(data) - 1)
    views[rows[inline], 4:] = np.where(np.arange(_INLINE) < lengths[inline, None], data[spread], 0)
    outside = ~inline
    views[rows[outside], 4:8] = data[starts[outside, None] + np.arange(4)]
    views[rows[outside], 12:] = (first + starts[outside]).astype("<i4").view(np.uint8).reshape(-1, 4)
    valid = np.zeros(count, bool)
    valid[rows] = True
    return pa.Array.from_buffers(pa.string_view(), count, [
        pa.py_buffer(np.packbits(valid, bitorder="little")), pa.py_buffer(views), body]).cast(pa.string())
