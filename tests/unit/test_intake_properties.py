"""Property-based and fuzz tests of every upload parser (Hypothesis).

Three promises are checked over generated input, not hand-picked examples:

* round trips: rows of arbitrary Unicode text written by the csv module, json and openpyxl come
  back from our readers as they were written (GBK: text GBK can encode);
* hostile bytes (random, truncated, mutated valid files) only ever produce the readers' own clear
  errors, `IntakeError` for the whole file and `RowError` per row, each naming the file and, where
  it applies, the line and field; no IndexError, UnicodeDecodeError, BadZipFile... leaks out;
* a zip's member names never reach the filesystem: hostile names are refused, and nothing is
  written outside the media store.

Examples are derandomized (no example database), so a CI run is the same as a local one; the
bounds keep the whole file well under a minute (INTAKE_FUZZ_EXAMPLES searches longer).  Plain regression tests for bugs these properties
found sit at the end.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import re
import struct
import tempfile
import tracemalloc
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select

from accounts.models import Role
from projects.intake import IntakeError, Item, RowError, canonical_json, read_items
from projects.media import IMAGE_EXTENSIONS, MediaStore, read_zip
from tasks.models import Task

# INTAKE_FUZZ_EXAMPLES=5000 searches far longer, with fresh random examples on every run
_HUNT = int(os.environ.get("INTAKE_FUZZ_EXAMPLES", "0"))


def bounded(examples: int) -> settings:
    return settings(max_examples=_HUNT or examples, deadline=None, derandomize=not _HUNT, database=None)


ROUND_TRIP, FUZZ, SLOW = bounded(60), bounded(80), bounded(25)  # SLOW: workbooks and zips

# --- strategies ----------------------------------------------------------------------------

# NUL marks a binary file (refused by design) and surrogates cannot be encoded: all else goes
ANY_CHAR = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
# the pieces that break naive parsers, mixed into arbitrary text
TRICKY_PIECES = ['"', '""', ",", "\t", "\n", "\r\n", "\r", " ", "'", ";", "\\", "#", "=", "=1+1",
                 "市民来信", "路灯坏了，请尽快修。", "😀", "👩‍👩‍👧", "\ufeff", "\u2028", "\x85", 'a,"b"\nc',
                 "\u00e9", "e\u0301", "_x0041_"]
TRICKY = st.sampled_from(TRICKY_PIECES)


def texts(chars: st.SearchStrategy[str] = ANY_CHAR, max_parts: int = 6,
          tricky: st.SearchStrategy[str] = TRICKY) -> st.SearchStrategy[str]:
    """Text mixing arbitrary characters with the tricky pieces above; often empty."""
    return st.lists(st.one_of(tricky, st.text(chars, max_size=8)), max_size=max_parts).map("".join)


def names(chars: st.SearchStrategy[str], tricky: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A column name as a header keeps it: not blank, no surrounding whitespace."""
    return texts(chars, 3, tricky).filter(lambda name: name and name == name.strip())


@st.composite
def tables(draw: st.DrawFn, chars: st.SearchStrategy[str] = ANY_CHAR, tricky: st.SearchStrategy[str] = TRICKY,
           max_rows: int = 6) -> tuple[list[str], list[list[str]]]:
    header = draw(st.lists(names(chars, tricky), min_size=1, max_size=4, unique=True))
    cells = texts(chars, tricky=tricky)
    rows = draw(st.lists(st.lists(cells, min_size=len(header), max_size=len(header)), max_size=max_rows))
    return header, rows


# ijson's C parser refuses integers beyond +-(2**63 - 1) ("integer overflow", a clear IntakeError)
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2 ** 63) + 1, 2 ** 63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | texts())
NESTED = JSON_SCALARS | st.lists(JSON_SCALARS, max_size=3) | st.dictionaries(texts(), JSON_SCALARS, max_size=3)
JSON_VALUES = NESTED | st.lists(NESTED, max_size=3) | st.dictionaries(texts(), NESTED, max_size=3)
JSON_OBJECTS = st.dictionaries(texts(), JSON_VALUES, max_size=4)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` with a few bytes flipped, inserted or deleted, or cut short.  Offsets lean towards
    the end too, where a zip keeps its directory."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1) | st.integers(max(0, len(data) - 120), len(data) - 1))
        kind = draw(st.sampled_from(["flip", "flip", "cut", "insert", "delete"]))
        if kind == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at:at + draw(st.integers(1, 16))]
    return bytes(data)


# --- writers, as the real tools write -------------------------------------------------------

def write_csv(header: list[str], rows: list[list[str]], delimiter: str = ",",
              lineterminator: str = "\r\n") -> str:
    """As Excel writes it.  With bare LF line ends every cell is quoted: the csv module would
    leave a cell holding a lone CR unquoted, which Excel, like us, reads as a line end."""
    quoting = csv.QUOTE_MINIMAL if lineterminator == "\r\n" else csv.QUOTE_ALL
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, lineterminator=lineterminator, quoting=quoting).writerows([header, *rows])
    return out.getvalue()


def record_lines(row: list[str]) -> int:
    """How many physical lines the csv module writes `row` on (its cells' line breaks + 1)."""
    return sum(len(re.findall(r"\r\n|\r|\n", cell)) for cell in row) + 1 if row != [""] else 1


def gbk_encodable(text: str) -> bool:
    try:
        text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def write_xlsx(header: list[str], rows: list[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for number, values in enumerate([header, *rows], start=1):
        for column, value in enumerate(values, start=1):
            if value != "":
                cell = sheet.cell(row=number, column=column, value=value)
                cell.data_type = "s" if isinstance(value, str) else cell.data_type  # "=1" is text
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def image_bytes(color: tuple[int, int, int], fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    with Image.new("RGB", (4, 4), color) as image:
        image.save(out, fmt)
    return out.getvalue()


RED, GREEN = image_bytes((255, 0, 0)), image_bytes((0, 255, 0), "JPEG")


def raw_zip(members: list[tuple[bytes, bytes, int]]) -> bytes:
    """A zip of stored members `(raw name, data, flag bits)`, written by hand: zipfile itself cuts
    a name at NUL and warns on duplicates, and hostile archives do neither."""
    body, directory = bytearray(), bytearray()
    for name, data, flags in members:
        fields = (20, flags, zipfile.ZIP_STORED, 0, 0x21, zlib.crc32(data), len(data), len(data), len(name), 0)
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, len(body)) + name
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields) + name + data
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0)
    return bytes(body + directory + end)


def deflated_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


SEED_NAMES = ["csv", "gbk.csv", "tsv", "json", "jsonl", "xlsx", "urls", "zip", "deflated.zip", "text.csv"]


@functools.cache
def seeds() -> dict[str, bytes]:
    """One valid file per format, the starting points of the mutation fuzz."""
    header = ["问题", "部门", "备注"]
    rows = [["路灯坏了，\n已经一周", "城管", '他说"快修"'], ["噪音😀", "环保", ""], ["公交 12 路", "交通", "a,b"]]
    objects = [{"text": "路灯坏了", "meta": {"n": 1, "score": 0.5, "tags": ["灯", None, True]}}, {"text": "噪音"}]
    return {
        "csv": ("\ufeff" + write_csv(header, rows)).encode(),
        "gbk.csv": write_csv(header, rows).replace("😀", "！").encode("gbk"),
        "tsv": write_csv(header, rows, "\t", "\n").encode("utf-16"),
        "json": json.dumps(objects, ensure_ascii=False, indent=1).encode(),
        "jsonl": "".join(json.dumps(o, ensure_ascii=False) + "\r\n" for o in objects).encode("gb18030"),
        "xlsx": write_xlsx(header, rows + [["x", 1.5, True]]),
        "urls": "# 图片\nhttps://img.example.com/路灯/1.png\n\nhttp://a.example/2.jpg\n".encode(),
        "zip": raw_zip([("猫/橘猫.png".encode(), RED, 0x800), (b"b.jpg", GREEN, 0), (b"notes.txt", b"hi", 0)]),
        "deflated.zip": deflated_zip({"猫/橘猫.png": RED, "b.jpg": GREEN, "notes.txt": "说明".encode() * 50}),
        "text.csv": "text,备注\r\n路灯坏了,城管\r\n噪音,\r\n".encode(),  # what the HTTP test's text job needs
    }


# --- what a clear error looks like ----------------------------------------------------------

def read_all(data: bytes, filename: str, fmt: str, **options: Any) -> list[Item | RowError] | IntakeError:
    """Every result of reading `data`, or the IntakeError that stopped it; anything else raises."""
    try:
        return list(read_items(io.BytesIO(data), filename, format=fmt, **options))
    except IntakeError as error:
        return error


def assert_clear(outcome: list[Item | RowError] | IntakeError, filename: str) -> None:
    """The outcome names the file, and the line and field where it has them."""
    if isinstance(outcome, IntakeError):
        assert outcome.file == filename and outcome.reason.strip()
        where = filename if outcome.line is None else f"{filename}, line {outcome.line}"
        assert str(outcome).startswith(f"{where}: ")
        assert outcome.line is None or outcome.line >= 1
        return
    for result in outcome:
        if isinstance(result, RowError):
            assert result.file == filename and result.line >= 1 and result.reason.strip()
            field = "" if result.field is None else f", field '{result.field}'"
            assert str(result).startswith(f"{filename}, line {result.line}{field}: ")
        else:
            assert isinstance(result, Item) and isinstance(result.data, dict) and result.line >= 1
            assert result.canonical == canonical_json(result.data)
            assert isinstance(result.content_hash, bytes) and len(result.content_hash) == 16


def items_of(outcome: list[Item | RowError] | IntakeError) -> list[Item]:
    assert not isinstance(outcome, IntakeError), str(outcome)
    errors = [str(result) for result in outcome if isinstance(result, RowError)]
    assert errors == []
    return outcome  # type: ignore[return-value]


# --- round trips -----------------------------------------------------------------------------

def expected_rows(header: list[str], rows: list[list[str]]) -> list[tuple[int, dict[str, str]]]:
    """(first physical line, data) of each row the reader should yield: blank rows are skipped,
    and a line break inside a cell reads as "\\n" (Excel writes "\\r\\n")."""
    expected, line = [], record_lines(header) + 1
    for row in rows:
        if any(row):
            expected.append((line, {name: cell.replace("\r\n", "\n") for name, cell in zip(header, row)}))
        line += record_lines(row)
    return expected


@ROUND_TRIP
@given(table=tables(), delimiter=st.sampled_from([",", "\t"]), lineterminator=st.sampled_from(["\r\n", "\n"]),
       bom=st.booleans())
def test_csv_and_tsv_round_trip_arbitrary_unicode(table: tuple[list[str], list[list[str]]], delimiter: str,
                                                  lineterminator: str, bom: bool) -> None:
    header, rows = table
    assume(not header[0].startswith("\ufeff"))  # indistinguishable from a byte-order mark
    data = (("\ufeff" if bom else "") + write_csv(header, rows, delimiter, lineterminator)).encode()
    fmt = "csv" if delimiter == "," else "tsv"
    items = items_of(read_all(data, f"data.{fmt}", fmt))
    assert [(item.line, item.data) for item in items] == expected_rows(header, rows)


@ROUND_TRIP
@given(table=tables(), gold=st.booleans())
def test_table_rows_are_stored_as_canonical_json_with_the_gold_column_taken_out(
        table: tuple[list[str], list[list[str]]], gold: bool) -> None:
    header, rows = table
    assume(not header[0].startswith("\ufeff"))
    gold_field = header[-1] if gold else None
    data = write_csv(header, rows).encode()
    for item in items_of(read_all(data, "data.csv", "csv", gold_field=gold_field)):
        assert gold_field not in item.data and item.canonical == canonical_json(item.data)
        assert item.content_hash == hashlib.sha256(item.canonical.encode("utf-8", "surrogatepass")).digest()[:16]


GBK_CHAR = st.characters(codec="gbk", exclude_characters="\x00")
GBK_TRICKY = st.sampled_from([piece for piece in TRICKY_PIECES if gbk_encodable(piece)])


@ROUND_TRIP
@given(table=tables(GBK_CHAR, GBK_TRICKY), override=st.booleans())
def test_gbk_csv_round_trips_text_gbk_can_encode(table: tuple[list[str], list[list[str]]], override: bool) -> None:
    header, rows = table
    assume(not header[0].startswith("\ufeff"))
    data = write_csv(header, rows).encode("gbk")
    if not override:
        # detection reads bytes that are valid UTF-8 as UTF-8; real GBK text almost never is
        assume(data.isascii() or not is_utf8(data))
    items = items_of(read_all(data, "gbk.csv", "csv", encoding="gbk" if override else None))
    assert [(item.line, item.data) for item in items] == expected_rows(header, rows)


@ROUND_TRIP
@given(objects=st.lists(JSON_OBJECTS, max_size=5), ensure_ascii=st.booleans(),
       indent=st.sampled_from([None, 2, "\t"]), bom=st.booleans())
def test_json_array_round_trips(objects: list[dict[str, Any]], ensure_ascii: bool, indent: Any, bom: bool) -> None:
    data = ("\ufeff" if bom else "") + json.dumps(objects, ensure_ascii=ensure_ascii, indent=indent)
    items = items_of(read_all(data.encode(), "tasks.json", "json"))
    # canonical JSON tells 1 from 1.0, which == does not
    assert [(item.line, item.canonical) for item in items] == \
        [(index, canonical_json(obj)) for index, obj in enumerate(objects, start=1)]


@ROUND_TRIP
@given(objects=st.lists(st.tuples(JSON_OBJECTS, st.sampled_from(["\n", "\r\n", "\n\n", " \r\n\t\n"])),
                        min_size=1, max_size=5),  # no object at all is an empty file, an IntakeError
       ensure_ascii=st.booleans())
def test_jsonl_round_trips(objects: list[tuple[dict[str, Any], str]], ensure_ascii: bool) -> None:
    data = "".join(json.dumps(obj, ensure_ascii=ensure_ascii) + gap for obj, gap in objects)
    items = items_of(read_all(data.encode(), "tasks.jsonl", "jsonl"))
    lines, line = [], 1
    for _, gap in objects:
        lines.append(line)
        line += len(re.findall(r"\r\n|\r|\n", gap))
    assert [(item.line, item.canonical) for item in items] == \
        [(number, canonical_json(obj)) for number, (obj, _) in zip(lines, objects)]


# openpyxl refuses the C0 controls XML 1.0 cannot hold, lxml the non-characters U+FFFE and U+FFFF;
# everything else goes into a workbook
XLSX_CHAR = st.characters(exclude_categories=("Cs",),
                          exclude_characters="".join(map(chr, [*range(9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF])))


@SLOW
@given(table=tables(XLSX_CHAR, max_rows=4))
def test_xlsx_round_trips_arbitrary_unicode(table: tuple[list[str], list[list[str]]]) -> None:
    header, rows = table
    assume(all(name == name.replace("\r\n", "\n").strip() for name in header))
    items = items_of(read_all(write_xlsx(header, rows), "data.xlsx", "xlsx"))
    expected = [(number, {name: cell.replace("\r\n", "\n") for name, cell in zip(header, row)})
                for number, row in enumerate(rows, start=2) if any(row)]
    assert [(item.line, item.data) for item in items] == expected


URL_CHAR = st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters="\x1c\x1d\x1e\x1f")
HOSTS = st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,2}", fullmatch=True)


@ROUND_TRIP
@given(urls=st.lists(st.tuples(st.sampled_from(["http", "https", "HTTPS"]), HOSTS, st.text(URL_CHAR, max_size=20),
                               st.sampled_from(["", "  ", "\t"])), max_size=6),
       newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_url_lists_round_trip(urls: list[tuple[str, str, str, str]], newline: str) -> None:
    lines = [f"{pad}{scheme}://{host}/{path}{pad}" for scheme, host, path, pad in urls]
    data = ("# 图片\n" + newline.join(lines)).encode()
    items = items_of(read_all(data, "images.txt", "urls"))
    assert [(item.line, item.data) for item in items] == \
        [(number, {"image": line.strip()}) for number, line in enumerate(lines, start=2)]


# --- fuzz: hostile bytes give clear errors only ----------------------------------------------

FORMATS = ["csv", "tsv", "json", "jsonl", "xlsx", "urls"]
ENCODINGS = [None, None, None, "utf-8", "gbk", "gb18030", "utf-16", "utf-32", "latin-1", "big5", "ascii",
             "base64", "rot13", "hex", "no-such-codec"]


@FUZZ
@given(data=st.binary(max_size=300) | st.lists(TRICKY | st.binary(max_size=6).map(repr), max_size=20)
       .map(lambda parts: "".join(parts).encode()), fmt=st.sampled_from(FORMATS))
def test_arbitrary_bytes_give_only_clear_errors(data: bytes, fmt: str) -> None:
    filename = f"上传 (1).{fmt}"
    assert_clear(read_all(data, filename, fmt, required_fields=["a"], gold_field="b"), filename)


@FUZZ
@given(source=st.sampled_from(["csv", "gbk.csv", "tsv", "json", "jsonl", "urls"]).flatmap(
    lambda name: st.tuples(st.just(name), mutated(seeds()[name]))), encoding=st.sampled_from(ENCODINGS))
def test_mutated_text_files_give_only_clear_errors(source: tuple[str, bytes], encoding: str | None) -> None:
    name, data = source
    fmt = name.rsplit(".", 1)[-1]
    assert_clear(read_all(data, name, fmt, encoding=encoding), name)


# what a damaged or hand-made workbook may hold where openpyxl expects something else
XML_TOKENS = st.sampled_from([b' t="s"', b' t="d"', b' t="n"', b' t="b"', b' t="e"', b' t="inlineStr"', b"<v>x</v>",
                              b"<v>99999999</v>", b"<v>-1</v>", b"<v>1e400</v>", b' r="XFD1048577"', b' r="0"',
                              b' s="999"', b"<f>1+</f>", b"<is><t>a</t></is>", b"<row>", b"</c>", b"&amp;", b"&x;",
                              b"<!DOCTYPE x [<!ENTITY x 'y'>]>", b"\x00", b"\xff"])


@st.composite
def damaged_workbooks(draw: st.DrawFn) -> bytes:
    """The seed workbook with one part damaged or missing, re-zipped whole: flipping bytes of the
    zip itself mostly trips its CRC check, this reaches openpyxl's XML parsing too."""
    with zipfile.ZipFile(io.BytesIO(seeds()["xlsx"])) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    name = draw(st.sampled_from(sorted(parts)))
    if draw(st.integers(0, 9)) == 0:
        del parts[name]
    elif draw(st.booleans()):
        at = draw(st.integers(0, len(parts[name])))
        parts[name] = parts[name][:at] + draw(XML_TOKENS) + parts[name][at:]
    else:
        parts[name] = draw(mutated(parts[name]))
    return deflated_zip(parts)


@SLOW
@given(data=st.deferred(lambda: mutated(seeds()["xlsx"]) | damaged_workbooks()))
def test_mutated_workbooks_give_only_clear_errors(data: bytes) -> None:
    assert_clear(read_all(data, "data.xlsx", "xlsx", required_fields=["问题"]), "data.xlsx")


@FUZZ
@given(fmt=st.sampled_from(FORMATS), cut=st.integers(0, 10_000), name=st.sampled_from(SEED_NAMES))
def test_truncated_files_give_only_clear_errors(fmt: str, cut: int, name: str) -> None:
    """Any seed cut anywhere, read as any format (a misnamed file is common)."""
    data = seeds()[name]
    assert_clear(read_all(data[:cut % (len(data) + 1)], "upload", fmt), "upload")


# --- zip archives: hostile member names, and the filesystem afterwards -----------------------

STORED_FILE = re.compile(rf"([0-9a-f]{{2}})/\1[0-9a-f]{{62}}\.(?:{'|'.join(IMAGE_EXTENSIONS)})")
HOSTILE_NAMES = st.sampled_from([
    "../evil.png", "../../../../tmp/evil.png", "a/../../evil.png", "..", "./../x.png", "/etc/passwd",
    "/abs.png", "//server/share.png", "C:/windows.png", "c:evil.png", "a\\..\\..\\evil.png", "\\abs.png",
    "nul\x00.png", "a.png\x00../../x", "tab\t.png", "new\nline.png", "", "/", ".", "./", "a//b/./c.png",
    "猫/橘猫.png", "e\u0301.png", "\u202egnp.exe", "CON.png", "a.png", "a.png", "__MACOSX/._a.png", ".DS_Store",
    "dir/", "x" * 300 + ".png", "深/" * 200 + "a.png", "😀" * 1000 + ".png",
])
MEMBER_NAMES = HOSTILE_NAMES | st.lists(st.sampled_from(["..", ".", "", "a", "猫", "\\", "C:", "\x00", "\x01"]),
                                        min_size=1, max_size=5).map("/".join) | texts()


def hostile(name: str) -> bool:
    """Whether the name could point outside the archive if anyone unpacked it by name."""
    return ("\\" in name or name.startswith("/") or re.match("[A-Za-z]:", name) is not None
            or any(ord(char) < 32 for char in name) or ".." in name.split("/"))


def litter(name: str) -> bool:
    """A folder or operating-system litter, which read_zip leaves out without a word."""
    parts = name.split("/")
    return name.endswith("/") or "__MACOSX" in parts[:-1] or parts[-1] in (".DS_Store", "Thumbs.db", "desktop.ini")


def files_under(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def assert_store_holds_only_whole_images(store: MediaStore, members: list[bytes]) -> None:
    for relative, content in files_under(store.root).items():
        assert STORED_FILE.fullmatch(relative), relative  # no temporaries, no member names
        assert Path(relative).name.startswith(hashlib.sha256(content).hexdigest()) and content in members


@SLOW
@given(members=st.lists(st.tuples(MEMBER_NAMES, st.sampled_from([RED, GREEN, b"not an image"]),
                                  st.sampled_from(["utf-8", "gbk", "cp437"])), min_size=1, max_size=6))
def test_hostile_member_names_are_refused_and_nothing_leaves_the_store(
        members: list[tuple[str, bytes, str]]) -> None:
    raw = []
    for name, data, codec in members:
        encoded = name.encode(codec, "replace")
        raw.append((encoded, data, 0x800 if codec == "utf-8" else 0))
    with tempfile.TemporaryDirectory() as sandbox:
        root = Path(sandbox)
        work = root / "work" / "deep"  # where a member written by its relative name would land
        work.mkdir(parents=True)
        (root / "upload.zip").write_bytes(raw_zip(raw))
        store = MediaStore(root / "media")
        before = files_under(root)
        cwd = os.getcwd()
        os.chdir(work)
        try:
            with (root / "upload.zip").open("rb") as stream:
                outcome: list[Item | RowError] | IntakeError = list(read_zip(stream, "upload.zip", store))
        except IntakeError as error:
            outcome = error
        finally:
            os.chdir(cwd)
        after = files_under(root)
        assert {key: value for key, value in after.items() if not key.startswith("media/")} == before
        assert_store_holds_only_whole_images(store, [data for _, data, _ in members])
        assert_zip_results(outcome, members, store)


def assert_zip_results(outcome: list[Item | RowError] | IntakeError, members: list[tuple[str, bytes, str]],
                       store: MediaStore) -> None:
    if isinstance(outcome, IntakeError):
        assert outcome.file == "upload.zip" and str(outcome).startswith("upload.zip: ")
        return
    lines = [result.line for result in outcome]  # each the member's position in the archive
    assert lines == sorted(set(lines)) and set(lines) <= set(range(1, len(members) + 1))
    # one result per member, duplicate names included: only folders and OS litter go unreported
    assert {line for line, (name, _, codec) in enumerate(members, start=1)
            if codec == "utf-8" and not litter(name)} <= set(lines)
    for result in outcome:
        if isinstance(result, RowError):
            assert result.file.startswith("upload.zip:") and result.reason.strip()
            continue
        name, _, codec = members[result.line - 1]
        path = result.data["file"]
        assert not hostile(path) and path.split("/") == [part for part in path.split("/") if part not in ("", ".")]
        assert path == unicodedata.normalize("NFC", path)
        if codec == "utf-8":  # a name read exactly as written: a hostile one is refused, not sanitised
            assert not hostile(name)
        assert result.data["image"].startswith("/media/") and store.exists(result.data["image"][len("/media/"):])


@SLOW
@given(data=st.sampled_from(["zip", "deflated.zip"]).flatmap(lambda name: mutated(seeds()[name]))
       | st.binary(max_size=200).map(lambda tail: b"PK\x05\x06" + tail))
def test_mutated_zips_give_only_clear_errors_and_whole_images(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as sandbox:
        store = MediaStore(Path(sandbox) / "media")
        try:
            outcome = list(read_zip(io.BytesIO(data), "images.zip", store))
        except IntakeError as error:
            assert error.file == "images.zip" and str(error).startswith("images.zip")
            outcome = []
        for result in outcome:
            if isinstance(result, RowError):
                assert result.file.startswith("images.zip:") and result.line >= 1 and result.reason.strip()
            else:
                assert store.exists(result.data["image"].removeprefix("/media/"))
        assert_store_holds_only_whole_images(store, [RED, GREEN])
        assert set(os.listdir(sandbox)) <= {"media"}


# --- through the HTTP API: never a 500, never a half-written import ---------------------------

@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[1]


@pytest.fixture
def projects(manager) -> dict[str, int]:
    """A text job (needs 'text') and an image job (needs 'image'), by the field they need."""
    made = {}
    for field, template in (("text", {"type": "text_classification", "choices": ["城管", "环保"]}),
                            ("image", {"type": "image_classification", "choices": ["猫", "狗"]})):
        reply = manager.post("/api/projects", json={"title": f"模糊测试 {field}", "template": template})
        assert reply.status_code == 201, reply.json
        made[field] = reply.json["id"]
    return made


def task_rows(session) -> list[tuple[Any, ...]]:
    session.expire_all()
    return session.execute(select(Task.id, Task.project_id, Task.content_hash).order_by(Task.id)).all()


UPLOAD_NAMES = st.sampled_from(["data.csv", "data.tsv", "tasks.json", "tasks.jsonl", "sheet.xlsx", "urls.txt",
                                "images.zip", "../../etc/passwd.csv", "数据 (1).CSV", "old.xls", "noext", "a.csv\x00.exe"])


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # one app and two jobs for all examples
@example(upload=("good.csv", "text\n路灯坏了\n噪音\n".encode()), field="text")
@example(upload=("escape.jsonl", b'{"text": "ok"}\n{"text": "\\ud800"}\n'), field="text")  # regressions
@example(upload=("huge.jsonl", b'{"text": "ok", "n": 1e400}\n'), field="text")
@example(upload=("deep.json", b'[{"text": "ok"}, {"text": ' + deep(50_000) + b"}]"), field="text")
@example(upload=("deep.jsonl", b'{"text": ' + deep(50_000) + b"}\n"), field="text")
@example(upload=("drive.zip", raw_zip([(b"ok.png", RED, 0), (b"./C:/x.png", GREEN, 0)])), field="image")
@given(upload=st.tuples(UPLOAD_NAMES, st.sampled_from(SEED_NAMES).flatmap(lambda name: mutated(seeds()[name]))
                        | st.binary(max_size=200)),
       field=st.sampled_from(["text", "image"]))
def test_fuzzed_uploads_never_500_and_leave_no_tasks_behind(manager, projects: dict[str, int], session, app,
                                                            upload: tuple[str, bytes], field: str) -> None:
    filename, content = upload
    before = task_rows(session)
    reply = manager.post(f"/api/projects/{projects[field]}/uploads", data={"file": (io.BytesIO(content), filename)},
                         content_type="multipart/form-data")
    assert reply.status_code < 500, reply.get_data(as_text=True)
    after = task_rows(session)
    if reply.status_code != 202:  # refused on arrival: a JSON error that names the file
        assert 400 <= reply.status_code < 500 and reply.is_json
        assert reply.json["error"] and reply.json["message"].strip()
        assert after == before
        return
    report, job = reply.json["upload"], manager.get(reply.json["status_url"]).json
    assert job["status"] == "finished", job  # an import that crashed would be "failed"
    assert report["phase"] in ("done", "rejected"), report
    if report["phase"] == "rejected":
        assert after == before and report["created"] == 0 and report["errors"]
        assert all(error.startswith(report["filename"]) for error in report["errors"])
    else:
        assert report["error_count"] == 0 and len(after) == len(before) + report["created"]
        assert after[:len(before)] == before
    uploads = Path(app.config["DATA_DIR"]) / "uploads"
    assert all(re.fullmatch(r"[0-9a-f]{32}\.\w+", path.name) for path in uploads.iterdir())


# --- regressions: bugs the properties found -------------------------------------------------


def test_deeply_nested_jsonl_line_is_a_row_error_not_a_recursion_error() -> None:
    data = b'{"a": ' + deep(100_000) + b'}\n{"a": ' + deep(101) + b'}\n{"a": ' + deep(99) + b'}\n'
    results = items_or_errors(data, "deep.jsonl", "jsonl")
    assert [(type(result).__name__, result.line) for result in results] == \
        [("RowError", 1), ("RowError", 2), ("Item", 3)]  # 100 levels, the object included, are read
    assert str(results[0]) == "deep.jsonl, line 1: the item nests arrays or objects more than 100 levels deep"
    assert results[1].reason == results[0].reason


def test_deeply_nested_json_item_is_a_row_error_in_flat_memory() -> None:
    # ijson.items kept a path string per level: this 200 KB file took gigabytes, then the
    # canonical encoding of the item raised RecursionError
    data = b'[{"a": ' + deep(100_000) + b'}, {"text": "ok"}, {"a": ' + deep(99) + b"}]"
    tracemalloc.start()
    try:
        first, second, third = items_or_errors(data, "deep.json", "json")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(first) == "deep.json, line 1: the item nests arrays or objects more than 100 levels deep"
    assert (second.line, second.data) == (2, {"text": "ok"}) and isinstance(third, Item)
    assert peak < 32 * 1024 * 1024


def test_lone_surrogate_escapes_are_clear_errors_not_crashes() -> None:
    # JSONL: "\ud800" decoded to half a character, which then failed the database insert
    results = items_or_errors(b'{"text": "\\ud800"}\n{"text": "\\ud83d\\ude00 \\\\ud800"}\n', "s.jsonl", "jsonl")
    assert str(results[0]) == ("s.jsonl, line 1: invalid JSON: a \\uD800-\\uDFFF escape is half of a character "
                               "(an unpaired surrogate)")
    assert results[1].data == {"text": "😀 \\ud800"}  # a pair is one character; "\\\\ud800" is text
    # JSON: ijson's C parser raised UnicodeDecodeError
    outcome = read_all(b'[{"text": "ok"}, {"text": "\\udc80"}]', "s.json", "json")
    assert isinstance(outcome, IntakeError) and outcome.line == 2 and "unpaired surrogate" in outcome.reason


def test_jsonl_number_too_large_for_a_float_is_a_row_error() -> None:
    # 1e400 read as inf, and the task was stored with the non-JSON text Infinity
    (error,) = items_or_errors(b'{"text": "a", "score": 1e400}\n', "n.jsonl", "jsonl")
    assert str(error) == "n.jsonl, line 1: invalid JSON: the number 1e400 is out of range"


@pytest.mark.parametrize("encoding", ["base64", "rot13", "zlib"])
def test_encoding_that_is_not_a_text_encoding_is_an_intake_error(encoding: str) -> None:
    # TextIOWrapper raised LookupError: "'base64' is not a text encoding"
    for fmt in ("csv", "jsonl", "urls"):
        outcome = read_all(b"text\nx\n", f"data.{fmt}", fmt, encoding=encoding)
        assert isinstance(outcome, IntakeError) and outcome.reason == f"unknown text encoding '{encoding}'"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_chosen_for_a_file_without_a_bom_is_an_intake_error(encoding: str) -> None:
    # UnicodeError "UTF-16 stream does not start with BOM" leaked: it is no UnicodeDecodeError
    outcome = read_all("问题\n路灯\n".encode("gbk"), "data.csv", "csv", encoding=encoding)
    assert isinstance(outcome, IntakeError) and outcome.line == 1
    assert outcome.reason.startswith(f"the text stops being valid {encoding.upper()}")


def workbook_with(part: str, damage: Callable[[bytes], bytes]) -> bytes:
    with zipfile.ZipFile(io.BytesIO(write_xlsx(["text"], [["路灯"], ["噪音"], ["公交"]]))) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts[part] = damage(parts[part])
    return deflated_zip(parts)


def test_workbook_with_broken_xml_is_an_intake_error_on_open_and_while_reading() -> None:
    # lxml's XMLSyntaxError (on open) and ElementTree's ParseError (reading rows) leaked
    broken_types = workbook_with("[Content_Types].xml", lambda xml: xml.replace(b'"', b"", 1))
    outcome = read_all(broken_types, "bad.xlsx", "xlsx")
    assert isinstance(outcome, IntakeError) and outcome.reason.startswith("this is not a valid .xlsx workbook")
    cut_sheet = workbook_with("xl/worksheets/sheet1.xml", lambda xml: xml[:xml.index(b'<row r="4"')] + b"<row")
    results: list[Item | RowError] = []
    with pytest.raises(IntakeError) as info:
        results.extend(read_items(io.BytesIO(cut_sheet), "cut.xlsx"))
    assert [(item.line, item.data) for item in results] == [(2, {"text": "路灯"}), (3, {"text": "噪音"})]
    assert str(info.value).startswith("cut.xlsx, line 4: the workbook is damaged after row 3; this is not a valid")


def test_zip_member_whose_drive_appears_after_normalising_is_refused(tmp_path: Path) -> None:
    # "./C:/x.png" passed the drive check, made on the name before "./" was dropped
    archive = raw_zip([(b"./C:/x.png", RED, 0x800), (b"./c:y.png", GREEN, 0x800), (b"./ok/C:.png", RED, 0x800)])
    results = list(read_zip(io.BytesIO(archive), "drive.zip", MediaStore(tmp_path / "media")))
    assert [(type(result).__name__, result.line) for result in results] == [("RowError", 1), ("RowError", 2),
                                                                            ("Item", 3)]
    assert all("the path is absolute" in result.reason for result in results[:2])
    assert results[2].data["file"] == "ok/C:.png"


def test_zip_asking_for_a_newer_zip_version_is_an_intake_error(tmp_path: Path) -> None:
    # zipfile raised NotImplementedError("zip file version 6.4") while reading the directory
    archive = bytearray(raw_zip([(b"a.png", RED, 0)]))
    directory = archive.index(b"PK\x01\x02")
    archive[directory + 6:directory + 8] = struct.pack("<H", 64)  # version needed to extract
    with pytest.raises(IntakeError, match="not a zip archive, or it is damaged"):
        read_zip(io.BytesIO(bytes(archive)), "new.zip", MediaStore(tmp_path / "media"))


def items_or_errors(data: bytes, filename: str, fmt: str) -> list[Item | RowError]:
    outcome = read_all(data, filename, fmt)
    assert not isinstance(outcome, IntakeError), str(outcome)
    return outcome
