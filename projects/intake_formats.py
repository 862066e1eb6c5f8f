"""Per-format readers behind `projects.intake`: decoding, parsing and row-shape checks.

Each `read_<format>(stream, file, encoding)` does its whole-file checks at once (encoding,
header), raising `IntakeError`, and returns an `Opened` whose `records` iterator then yields,
row by row, either `(line, data)` or a `RowError`; nothing here holds more than one row
(xlsx aside: openpyxl keeps the shared-strings table in memory).
Task-level rules (required fields, gold answers, hashing) live in `projects.intake`, which
also re-exports the two error types defined here as part of its public contract.

Text formats (csv, tsv, jsonl, urls) are decoded as UTF-8 (BOM stripped), UTF-16 with a BOM,
or GB18030 (a superset of the GBK that Excel writes on Chinese Windows), chosen by sniffing the
first 64 KiB. JSON is parsed incrementally with ijson and must be UTF-8 (RFC 8259).
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import math
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import urlsplit

import ijson

__all__ = ["IntakeError", "Opened", "Record", "RowError", "read_csv", "read_json",
           "read_jsonl", "read_tsv", "read_urls", "read_xlsx"]

SNIFF_BYTES = 64 * 1024
URL_FIELD = "image"
JSON_MAX_DEPTH = 100  # arrays and objects nested in one item: far more than any task needs
SAVE_AS_UTF8 = ('Please save as UTF-8 CSV (Excel: File > Save As > "CSV UTF-8 (Comma delimited)"; '
                "for other text files choose the UTF-8 encoding). "
                "请另存为 UTF-8 CSV 文件（Excel：文件 > 另存为 >“CSV UTF-8（逗号分隔）”；"
                "其他文本文件请选择 UTF-8 编码保存）。")
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_BINARY_SIGNATURES = ((b"PK\x03\x04", "a zip archive or an Excel .xlsx workbook"),
                      (b"\xd0\xcf\x11\xe0", "an old Excel .xls (or other Office) file"))
# surrogateescape turns each undecodable byte 0xNN into U+DCNN, so a match marks a bad byte
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_WHITESPACE = re.compile(r"\s")
_NOT_XLSX = ("this is not a valid .xlsx workbook; open it in Excel and save it as .xlsx, "
             "or as UTF-8 CSV")
_TOO_DEEP = f"the item nests arrays or objects more than {JSON_MAX_DEPTH} levels deep"
# a \uD800-\uDFFF escape: the only way a lone surrogate gets into JSON text (pairs are fine)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
               int: "a number", float: "a number", type(None): "null"}


@dataclass(frozen=True)
class RowError:
    """One bad row: the reader reports it and carries on with the next row."""

    file: str
    line: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        field = "" if self.field is None else f", field '{self.field}'"
        return f"{self.file}, line {self.line}{field}: {self.reason}"


class IntakeError(ValueError):
    """The file as a whole cannot be read (encoding, not a table, bad header, broken JSON...)."""

    def __init__(self, file: str, reason: str, line: int | None = None) -> None:
        super().__init__(file, reason, line)
        self.file, self.reason, self.line = file, reason, line

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}, line {self.line}"
        return f"{where}: {self.reason}"


Record = tuple[int, dict[str, Any]]


class Opened(NamedTuple):
    """A file whose whole-file checks passed; `records` yields its rows lazily."""

    # Known before any row (a header), else None. With a header, every row's data holds
    # exactly these keys, each value a str (projects.intake relies on it to encode rows fast).
    columns: tuple[str, ...] | None
    header_line: int | None
    records: Iterator[Record | RowError]


# --- decoding ------------------------------------------------------------------------------

class _Replay(io.RawIOBase):
    """The sniffed head, then the rest of the caller's stream, which is never closed here."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head, self._rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size], self._head = self._head[:size], self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _read_head(stream: BinaryIO) -> tuple[bytes, bool]:
    """Up to SNIFF_BYTES from the stream (looping over short reads), and whether it hit EOF."""
    chunks: list[bytes] = []
    size = 0
    while size < SNIFF_BYTES:
        chunk = stream.read(SNIFF_BYTES - size)
        if isinstance(chunk, str):
            raise TypeError("read_items needs a binary stream; open the file with 'rb'")
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def _without_bom(head: bytes) -> bytes:
    for bom in _BOMS:
        if head.startswith(bom):
            return head[len(bom):]
    return head


def _codec_label(codec: str) -> str:
    return codecs.lookup(codec).name.removesuffix("-sig").upper()


def _first_undecodable(head: bytes, codec: str, at_eof: bool) -> int | None:
    # why incremental: the head may end inside a multi-byte character, which is not an error
    try:
        codecs.getincrementaldecoder(codec)().decode(head, final=at_eof)
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _reject_binary(head: bytes, file: str) -> None:
    for magic, what in _BINARY_SIGNATURES:
        if head.startswith(magic):
            raise IntakeError(file, f"this is {what}, not a text file; upload workbooks as .xlsx, "
                                    f"or save as UTF-8 CSV")
    nul = head.find(b"\x00")
    if nul >= 0:
        raise IntakeError(file, f"this is not a text file (byte offset {nul} is a NUL byte). {SAVE_AS_UTF8}",
                          line=head.count(b"\n", 0, nul) + 1)


def _detect_codec(head: bytes, at_eof: bool, file: str) -> str:
    """BOM, else UTF-8 if the head is valid UTF-8, else GB18030 if valid, else IntakeError."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    _reject_binary(head, file)
    utf8_bad = _first_undecodable(head, "utf-8", at_eof)
    if utf8_bad is None:
        return "utf-8"
    gb_bad = _first_undecodable(head, "gb18030", at_eof)
    if gb_bad is None:
        return "gb18030"
    # point at the fault in whichever encoding the file follows further: the likelier one
    codec, bad = max(("UTF-8", utf8_bad), ("GBK/GB18030", gb_bad), key=lambda pair: pair[1])
    raise IntakeError(file, f"cannot tell the text encoding: the file is neither UTF-8 nor GBK/GB18030 "
                            f"(byte 0x{head[bad]:02X} at byte offset {bad} is not valid {codec}). "
                            f"{SAVE_AS_UTF8}", line=head.count(b"\n", 0, bad) + 1)


def _sniff(stream: BinaryIO, file: str, encoding: str | None) -> tuple[bytes, str]:
    """Read the head of the stream and choose its codec; `encoding` overrides detection."""
    head, at_eof = _read_head(stream)
    if not _without_bom(head).strip():
        raise IntakeError(file, "the file is empty")
    if encoding is None:
        return head, _detect_codec(head, at_eof, file)
    try:
        codec = codecs.lookup(encoding).name
        # why: TextIOWrapper is what refuses the bytes-to-bytes codecs (base64, rot13, zlib...)
        io.TextIOWrapper(io.BytesIO(), encoding=codec).detach()
    except LookupError:
        raise IntakeError(file, f"unknown text encoding '{encoding}'") from None
    # why: utf-8-sig reads BOM-less UTF-8 identically and keeps a BOM out of the first header name
    return head, "utf-8-sig" if codec == "utf-8" else codec


def _guarded_lines(text: Iterable[str], file: str, codec: str) -> Iterator[str]:
    """The text's physical lines; a decoding failure that surrogateescape cannot absorb (a
    multi-byte character cut off at EOF, broken UTF-16, UTF-16 chosen by hand for a file without
    a BOM) becomes an IntakeError."""
    count = 0
    try:
        for line in text:
            count += 1
            yield line
    except UnicodeError as exc:  # not only UnicodeDecodeError: "UTF-16 stream does not start with BOM"
        # the decoder works ahead in chunks, so the fault is at this line or a little later
        raise IntakeError(file, f"the text stops being valid {_codec_label(codec)} at or after this line. "
                                f"{SAVE_AS_UTF8}", line=count + 1) from exc


def _open_text(stream: BinaryIO, file: str, encoding: str | None) -> tuple[Iterator[str], str]:
    head, codec = _sniff(stream, file, encoding)
    buffered = io.BufferedReader(_Replay(head, stream), buffer_size=SNIFF_BYTES)
    # why surrogateescape: a bad byte past the sniffed head becomes a marker we can pin to its
    # row and field (see _undecodable_error) instead of an exception that loses the position
    text = io.TextIOWrapper(buffered, encoding=codec, errors="surrogateescape", newline="")
    return _guarded_lines(text, file, codec), codec


def _undecodable_error(file: str, line: int, cells: Sequence[str], names: Sequence[str],
                       codec: str) -> RowError | None:
    """A RowError for the first undecodable byte in a record's cells, on its exact line."""
    if not _UNDECODABLE.search("".join(cells)):
        return None
    for index, cell in enumerate(cells):
        match = _UNDECODABLE.search(cell)
        if match:
            # a quoted record can span lines: count the line breaks before the bad byte
            offset = sum(c.count("\n") for c in cells[:index]) + cell.count("\n", 0, match.start())
            byte = ord(match.group()) - 0xDC00
            return RowError(file, line + offset, names[index] if index < len(names) else None,
                            f"byte 0x{byte:02X} is not valid {_codec_label(codec)} text. {SAVE_AS_UTF8}")
    return None


# --- tables: csv, tsv, xlsx ----------------------------------------------------------------

def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _header_names(cells: Sequence[str], file: str, line: int) -> tuple[str, ...]:
    """Column names from a header row; empty, unnamed or duplicate columns are IntakeErrors."""
    names = [cell.strip() for cell in cells]
    while names and not names[-1]:
        names.pop()  # why: Excel pads every row, header included, to the sheet's used width
    if not names:
        raise IntakeError(file, "the header row is empty; the first row must hold the column names", line)
    first_seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if not name:
            raise IntakeError(file, f"column {number} has no name in the header row", line)
        if name in first_seen:
            raise IntakeError(file, f"duplicate column name '{name}' (columns {first_seen[name]} "
                                    f"and {number})", line)
        first_seen[name] = number
    return tuple(names)


def _table_record(values: list[str], header: tuple[str, ...], file: str,
                  line: int) -> Record | RowError | None:
    """A row of cell texts as a record; None for a blank row, which is skipped silently."""
    if not any(values):
        return None  # blank line, or an all-empty row as Excel leaves below the data
    width = len(header)
    while len(values) > width and not values[-1]:
        values.pop()  # trailing empty cells: the same Excel padding as in _header_names
    if len(values) != width:
        return RowError(file, line, None, f"the row has {_plural(len(values), 'value')} but the "
                                          f"header has {_plural(width, 'column')}")
    return line, dict(zip(header, values))


def _csv_reason(exc: csv.Error) -> str:
    message = str(exc)
    if message == "unexpected end of data":
        return ('a quoted cell is never closed: the " that opens it has no closing " '
                "before the end of the file")
    if message.startswith("field larger than field limit"):
        return (f"a cell is longer than {csv.field_size_limit()} characters "
                f'(often a " that is never closed)')
    if "expected after" in message:
        return 'text follows the closing " of a quoted cell; quote the whole cell and double any " inside it'
    return f"malformed CSV: {message}"


def _csv_header(reader: Any, file: str, codec: str) -> tuple[str, ...]:
    try:
        cells = next(reader)
    except StopIteration:
        raise IntakeError(file, "the file is empty") from None
    except csv.Error as exc:
        raise IntakeError(file, f"cannot read the header row: {_csv_reason(exc)}", line=1) from exc
    bad = _undecodable_error(file, 1, cells, (), codec)
    if bad is not None:
        raise IntakeError(file, f"in the header row: {bad.reason}", line=bad.line)
    return _header_names(cells, file, reader.line_num)


def _csv_records(reader: Any, header: tuple[str, ...], file: str,
                 codec: str) -> Iterator[Record | RowError]:
    width, undecodable = len(header), _UNDECODABLE.search
    start = reader.line_num + 1  # first physical line of the next record
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # strict mode: the reader resumes cleanly at the next line after reporting
            yield RowError(file, start, None, _csv_reason(exc))
        else:
            if reader.line_num != start:  # only a record spanning lines can hold line breaks
                cells = [cell.replace("\r\n", "\n") for cell in cells]
            if undecodable("".join(cells)):
                yield _undecodable_error(file, start, cells, header, codec)  # type: ignore[misc]
            elif len(cells) == width and any(cells):  # the usual row, as _table_record takes it
                yield start, dict(zip(header, cells))
            else:
                result = _table_record(cells, header, file, start)
                if result is not None:
                    yield result
        start = reader.line_num + 1


def read_csv(stream: BinaryIO, file: str, encoding: str | None, delimiter: str = ",") -> Opened:
    lines, codec = _open_text(stream, file, encoding)
    # strict: an unclosed quote is reported instead of silently eating the rest of the file
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header = _csv_header(reader, file, codec)
    return Opened(header, reader.line_num, _csv_records(reader, header, file, codec))


def read_tsv(stream: BinaryIO, file: str, encoding: str | None) -> Opened:
    """Tab-separated, with the same quoting as Excel's "Text (Tab delimited)"."""
    return read_csv(stream, file, encoding, delimiter="\t")


def _xlsx_text(value: Any) -> str:
    """A cell value as text, close to what Excel would write in a CSV."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("\r\n", "\n")
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        # a date-only cell comes back as midnight
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _seekable(stream: BinaryIO) -> BinaryIO:
    """The stream itself if seekable (a zip needs seeking), else a spooled copy of it."""
    if getattr(stream, "seekable", lambda: False)():
        return stream
    copy = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    shutil.copyfileobj(stream, copy)
    copy.seek(0)
    return copy  # type: ignore[return-value]


def _load_workbook(stream: BinaryIO, file: str, cleanup: ExitStack) -> Any:
    source = _seekable(stream)
    if source is not stream:
        cleanup.callback(source.close)
    position = source.tell()
    if not source.read(1):
        raise IntakeError(file, "the file is empty")
    source.seek(position)
    import openpyxl  # here: ~0.2 s to import, and only spreadsheets need it (see projects.chunks)

    try:
        workbook = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # why broad: openpyxl fails on hostile bytes in any way (lxml, zip, ValueError...)
        raise IntakeError(file, _NOT_XLSX) from exc
    cleanup.callback(workbook.close)
    return workbook


def _sheet_rows(sheet: Any, file: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(sheet row number, cell values); openpyxl parses the sheet lazily, so damage found while
    reading it (broken XML, a bad CRC, an impossible date) surfaces here, as an IntakeError."""
    line = 0
    try:
        for line, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, cells
    except Exception as exc:  # why broad: as in _load_workbook
        raise IntakeError(file, f"the workbook is damaged after row {line}; {_NOT_XLSX}", line + 1) from exc


def _xlsx_records(rows: Iterator[tuple[int, tuple[Any, ...]]], header: tuple[str, ...], file: str,
                  cleanup: ExitStack) -> Iterator[Record | RowError | None]:
    with cleanup:
        # read_xlsx primes the generator past this yield: a started generator runs `cleanup` when
        # it is closed or collected, even if the caller never asks for a row
        yield None
        for line, cells in rows:
            values = [_xlsx_text(value) for value in cells]
            # a sheet does not store trailing empty cells: those are empty values, not a short row
            values += [""] * (len(header) - len(values))
            result = _table_record(values, header, file, line)
            if result is not None:
                yield result


def read_xlsx(stream: BinaryIO, file: str, encoding: str | None = None) -> Opened:
    """The first worksheet, header on row 1, cached formula results; `encoding` is unused.
    Streams the sheet XML, but openpyxl keeps the shared-strings table in memory."""
    cleanup = ExitStack()  # closes the workbook (and any spooled copy) once rows are done
    try:
        workbook = _load_workbook(stream, file, cleanup)
        if not workbook.worksheets:
            raise IntakeError(file, "the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # why: a stale <dimension> tag would silently cut rows off
        rows = _sheet_rows(sheet, file)
        first = next(rows, None)
        if first is None:
            raise IntakeError(file, "the first worksheet is empty")
        header = _header_names([_xlsx_text(value) for value in first[1]], file, 1)
    except BaseException:
        cleanup.close()
        raise
    records = _xlsx_records(rows, header, file, cleanup)
    next(records)
    return Opened(header, 1, records)  # type: ignore[arg-type]  # None only before priming


# --- JSON, JSON Lines, URL lists -----------------------------------------------------------

def _object_record(value: Any, file: str, line: int) -> Record | RowError:
    if isinstance(value, dict):
        return line, value
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return RowError(file, line, None, f"expected a JSON object {{...}}, got {kind}")


def _ijson_reason(exc: Exception) -> str:
    message = exc.args[0] if exc.args else exc
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    # yajl appends a multi-line excerpt with a "(right here)" pointer; keep the first line
    return str(message).strip().splitlines()[0]


def _json_item(first: tuple[str, Any], events: Iterator[tuple[str, Any]]) -> tuple[Any, bool]:
    """One array item built from ijson's flat events, and whether it nests deeper than
    JSON_MAX_DEPTH (its events are then read to its end, but not built)."""
    builder, depth, too_deep = ijson.ObjectBuilder(), 0, False
    for event, value in itertools.chain([first], events):
        if event in ("start_map", "start_array"):
            depth += 1
            too_deep = too_deep or depth > JSON_MAX_DEPTH
        elif event in ("end_map", "end_array"):
            depth -= 1
        if not too_deep:
            builder.event(event, value)
        if depth == 0:
            break
    return builder.value, too_deep


def _json_records(events: Iterator[tuple[str, Any]], file: str) -> Iterator[Record | RowError]:
    # why flat events, not ijson.items: items keeps a path string per nesting level, so memory
    # grows with the square of the depth (a 60 KB file of "[[[[..." took 2 GB)
    count = 0
    try:
        next(events)  # the array's "[", checked by read_json
        for event, value in events:
            if event == "end_array":
                continue  # the array's "]": reading on lets the parser refuse anything after it
            item, too_deep = _json_item((event, value), events)
            count += 1
            yield RowError(file, count, None, _TOO_DEEP) if too_deep else _object_record(item, file, count)
    except ijson.JSONError as exc:
        # the parser cannot resynchronise inside an array, so the rest of the file is lost
        raise IntakeError(file, f"invalid JSON: {_ijson_reason(exc)}", line=count + 1) from exc
    except UnicodeDecodeError as exc:  # ijson's C parser on a "\udc80" escape
        raise IntakeError(file, "invalid JSON: a \\uD800-\\uDFFF escape is half of a character "
                                "(an unpaired surrogate)", line=count + 1) from exc


def read_json(stream: BinaryIO, file: str, encoding: str | None) -> Opened:
    """A top-level array of objects, parsed item by item; `line` is the item's index + 1.
    An item nested more than JSON_MAX_DEPTH levels deep is a RowError."""
    head, codec = _sniff(stream, file, encoding)
    if codecs.lookup(codec).name not in ("utf-8", "utf-8-sig"):
        raise IntakeError(file, f"JSON files must be UTF-8, but this one looks like "
                                f"{_codec_label(codec)}. {SAVE_AS_UTF8}")
    body = _without_bom(head)
    if body.lstrip()[:1] != b"[":
        raise IntakeError(file, 'the file must hold a JSON array of objects, like [{"text": "..."}, ...]; '
                                "for one object per line, use a .jsonl file")
    buffered = io.BufferedReader(_Replay(body, stream), buffer_size=SNIFF_BYTES)
    return Opened(None, None, _json_records(ijson.basic_parse(buffered, use_float=True), file))


def _reject_constant(name: str) -> Any:
    # why: NaN and Infinity are not JSON; ijson refuses them too, and so would a jsonb column
    raise ValueError(f"{name} is not allowed in JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400 reads as inf, which would be stored as Infinity
        raise ValueError(f"the number {text if len(text) <= 30 else text[:30] + '...'} is out of range")
    return number


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in `value`, counted level by level (no recursion)."""
    depth, level = 0, [value]
    while containers := [node for node in level if isinstance(node, (dict, list))]:
        depth += 1
        level = [child for node in containers for child in (node.values() if isinstance(node, dict) else node)]
    return depth


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _jsonl_record(line: str, file: str, number: int, codec: str) -> Record | RowError:
    bad = _undecodable_error(file, number, [line], (), codec)
    if bad is not None:
        return bad
    try:
        value = json.loads(line.rstrip("\r\n"), parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        return RowError(file, number, None, f"invalid JSON: {exc.msg} (column {exc.colno})")
    except ValueError as exc:
        return RowError(file, number, None, f"invalid JSON: {exc}")
    except RecursionError:
        return RowError(file, number, None, _TOO_DEEP)
    if line.count("[") + line.count("{") > JSON_MAX_DEPTH and _depth(value) > JSON_MAX_DEPTH:
        return RowError(file, number, None, _TOO_DEEP)
    if _SURROGATE_ESCAPE.search(line) and _has_lone_surrogate(value):
        # why: half a character cannot be encoded as UTF-8, so no database can store it
        return RowError(file, number, None, "invalid JSON: a \\uD800-\\uDFFF escape is half of a "
                                            "character (an unpaired surrogate)")
    return _object_record(value, file, number)


def _jsonl_records(lines: Iterator[str], file: str, codec: str) -> Iterator[Record | RowError]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield _jsonl_record(line, file, number, codec)


def read_jsonl(stream: BinaryIO, file: str, encoding: str | None) -> Opened:
    """One JSON object per line; blank lines are skipped.  Besides invalid JSON, a line is a
    RowError if it nests deeper than JSON_MAX_DEPTH, holds a number too large for a float, or an
    unpaired surrogate escape (half a character, which no database can store)."""
    lines, codec = _open_text(stream, file, encoding)
    return Opened(None, None, _jsonl_records(lines, file, codec))


def _is_http_url(text: str) -> bool:
    if _WHITESPACE.search(text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _url_records(lines: Iterator[str], file: str, codec: str) -> Iterator[Record | RowError]:
    for number, line in enumerate(lines, start=1):
        url = line.strip()
        if not url or url.startswith("#"):
            continue
        result = _undecodable_error(file, number, [url], (URL_FIELD,), codec)
        if result is None and not _is_http_url(url):
            shown = url if len(url) <= 100 else url[:100] + "..."
            result = RowError(file, number, URL_FIELD, f"not an http(s) URL: '{shown}'")
        yield result or (number, {URL_FIELD: url})


def read_urls(stream: BinaryIO, file: str, encoding: str | None) -> Opened:
    """One image URL per line; blank lines and lines starting with '#' are skipped."""
    lines, codec = _open_text(stream, file, encoding)
    return Opened((URL_FIELD,), None, _url_records(lines, file, codec))
