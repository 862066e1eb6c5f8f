"""Unit tests for projects.intake: encodings, formats, row errors, line numbers, gold, duplicates.

Every fixture is generated into tmp_path, encoded the way the real tools write it (Excel on
Chinese Windows writes GBK with CRLF, "CSV UTF-8" adds a BOM).  No timing here: memory and speed
are measured by bench/intake_bench.py.
"""
from __future__ import annotations

import gc
import hashlib
import io
import json
import pickle
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from projects.intake import (FORMATS, IntakeError, Item, RowError, content_hash, detect_format,
                             read_items)

LETTERS = [  # 市民来信: citizens' questions routed to departments
    ("小区门口的路灯坏了一个星期，晚上出行很不方便。", "城市管理局"),
    ("楼下餐馆油烟太大，窗户都不敢开。", "生态环境局"),
    ("公交 12 路能否延长末班车时间？", "交通运输局"),
]


def write(tmp_path: Path, name: str, content: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def read(path: Path, **options: Any) -> list[Item | RowError]:
    with path.open("rb") as stream:
        return list(read_items(stream, path.name, **options))


def errors_of(results: list[Item | RowError]) -> list[str]:
    return [str(result) for result in results if isinstance(result, RowError)]


def letters_csv(newline: str = "\r\n") -> str:
    rows = ["问题,部门"] + [f"{question},{department}" for question, department in LETTERS]
    return newline.join(rows) + newline


class Unseekable(io.RawIOBase):
    """A pipe-like stream: read() only, counting the bytes handed out."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data, self.consumed = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data[self.consumed:self.consumed + min(len(buffer), 4096)]
        buffer[:len(chunk)] = chunk
        self.consumed += len(chunk)
        return len(chunk)


# --- contract types ------------------------------------------------------------------------

def test_row_error_and_intake_error_render_file_line_field_reason() -> None:
    error = RowError("data.csv", 7, "text", "missing required field 'text'")
    assert str(error) == "data.csv, line 7, field 'text': missing required field 'text'"
    duplicate = RowError("data.csv", 3, None, "duplicate of line 2")
    assert str(duplicate) == "data.csv, line 3: duplicate of line 2"
    assert str(IntakeError("data.csv", "the file is empty")) == "data.csv: the file is empty"
    whole = IntakeError("data.csv", "duplicate column name 'a'", line=1)
    assert isinstance(whole, ValueError)
    assert (whole.file, whole.line, whole.reason) == ("data.csv", 1, "duplicate column name 'a'")
    assert str(pickle.loads(pickle.dumps(whole))) == "data.csv, line 1: duplicate column name 'a'"


@pytest.mark.parametrize(("name", "expected"), [
    ("a.csv", "csv"), ("A.CSV", "csv"), ("b.tsv", "tsv"), ("c.json", "json"), ("d.jsonl", "jsonl"),
    ("e.ndjson", "jsonl"), ("f.xlsx", "xlsx"), ("urls.txt", "urls"), ("archive.zip:member.csv", "csv"),
])
def test_detect_format_by_extension(name: str, expected: str) -> None:
    assert detect_format(name) == expected
    assert expected in FORMATS


@pytest.mark.parametrize("name", ["old.xls", "noext", "photo.png"])
def test_detect_format_rejects_other_extensions(name: str) -> None:
    with pytest.raises(IntakeError) as info:
        detect_format(name)
    assert info.value.file == name and "unsupported file type" in info.value.reason


def test_unknown_format_override_and_string_required_fields_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", "a\n1\n")
    with pytest.raises(IntakeError, match="unsupported format 'xml'"):
        read(path, format="xml")
    with pytest.raises(TypeError):
        read(path, required_fields="a")


# --- CSV: encodings ------------------------------------------------------------------------

def test_utf8_csv_chinese_passes_through(tmp_path: Path) -> None:
    results = read(write(tmp_path, "letters.csv", letters_csv()), required_fields=["问题"])
    assert [item.line for item in results] == [2, 3, 4]
    assert [item.data for item in results] == [{"问题": q, "部门": d} for q, d in LETTERS]
    assert all(isinstance(item, Item) and item.gold is None for item in results)


def test_utf8_bom_is_stripped_from_the_first_header_name(tmp_path: Path) -> None:
    results = read(write(tmp_path, "letters.csv", "\ufeff" + letters_csv(), "utf-8"), required_fields=["问题"])
    assert list(results[0].data) == ["问题", "部门"]


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_gbk_csv_as_excel_writes_it_on_chinese_windows(tmp_path: Path, encoding: str) -> None:
    results = read(write(tmp_path, "letters.csv", letters_csv("\r\n"), encoding), required_fields=["问题"])
    assert [(item.data["问题"], item.data["部门"]) for item in results] == LETTERS


def test_gb18030_four_byte_characters_decode(tmp_path: Path) -> None:
    results = read(write(tmp_path, "names.csv", "姓名\r\n吉𠮷\r\n", "gb18030"))
    assert results[0].data == {"姓名": "吉𠮷"}


def test_undecodable_file_names_offset_line_and_asks_for_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", b"text,dept\n\xff\xfe\xfd\xfc,x\n")
    with pytest.raises(IntakeError) as info:
        read(path)
    error = info.value
    assert (error.file, error.line) == ("bad.csv", 2)
    assert "neither UTF-8 nor GBK/GB18030 (byte 0xFF at byte offset 10 is not valid UTF-8)" in error.reason
    assert "save as UTF-8 CSV" in error.reason and "另存为 UTF-8 CSV" in error.reason
    assert str(error).startswith("bad.csv, line 2: cannot tell the text encoding")


def test_undecodable_gbk_file_points_at_its_broken_character(tmp_path: Path) -> None:
    content = letters_csv().encode("gbk") + b"\xd4"  # last character cut in half
    with pytest.raises(IntakeError) as info:
        read(write(tmp_path, "cut.csv", content))
    assert info.value.line == 5
    assert f"byte 0xD4 at byte offset {len(content) - 1} is not valid GBK/GB18030" in info.value.reason


def test_bad_bytes_after_the_sniffed_head_become_row_errors_on_the_exact_line(tmp_path: Path) -> None:
    filler = "".join(f"{i},{LETTERS[i % 3][0]}\n" for i in range(2000))  # > 64 KiB of valid UTF-8
    gbk = "噪音".encode("gbk")  # 0xD4 0xEB: not UTF-8
    content = ("id,text\n" + filler).encode() + b"2001," + gbk + b"\n" \
        + b'2002,"first line\nsecond ' + gbk + b'"\n' + b"2003,ok\n"
    assert len(content) > 64 * 1024
    results = read(write(tmp_path, "late.csv", content))
    errors = [result for result in results if isinstance(result, RowError)]
    assert [(e.line, e.field) for e in errors] == [(2002, "text"), (2004, "text")]
    assert errors[0].reason.startswith("byte 0xD4 is not valid UTF-8 text. Please save as UTF-8 CSV")
    assert results[-1].data == {"id": "2003", "text": "ok"} and results[-1].line == 2005


def test_encoding_override_and_unknown_encoding(tmp_path: Path) -> None:
    gbk = write(tmp_path, "letters.csv", letters_csv(), "gbk")
    assert read(gbk, encoding="GBK")[0].data["部门"] == LETTERS[0][1]
    bom = write(tmp_path, "bom.csv", "\ufeffa,b\n1,2\n")
    assert list(read(bom, encoding="utf-8")[0].data) == ["a", "b"]
    with pytest.raises(IntakeError, match="unknown text encoding 'klingon'"):
        read(gbk, encoding="klingon")


def test_utf16_with_bom_as_excel_unicode_text(tmp_path: Path) -> None:
    path = write(tmp_path, "letters.tsv", "问题\t部门\r\n路灯坏了\t城管\r\n", "utf-16")
    assert read(path)[0].data == {"问题": "路灯坏了", "部门": "城管"}


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "the file is empty"),
    (b" \r\n\r\n", "the file is empty"),
    (b"\xef\xbb\xbf", "the file is empty"),
    (b"PK\x03\x04\x14\x00\x00\x00", "this is a zip archive or an Excel .xlsx workbook, not a text file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "this is an old Excel .xls (or other Office) file"),
    (b"a,b\n1,\x00\x01\n", "this is not a text file (byte offset 6 is a NUL byte)"),
])
def test_empty_and_binary_files_are_intake_errors(tmp_path: Path, content: bytes, reason: str) -> None:
    with pytest.raises(IntakeError) as info:
        read(write(tmp_path, "upload.csv", content))
    assert info.value.file == "upload.csv" and info.value.reason.startswith(reason)


# --- CSV: header and rows ------------------------------------------------------------------

@pytest.mark.parametrize(("content", "line", "reason"), [
    ("\na,b\n1,2\n", 1, "the header row is empty; the first row must hold the column names"),
    (",,\n1,2,3\n", 1, "the header row is empty; the first row must hold the column names"),
    ("a,b,a\n1,2,3\n", 1, "duplicate column name 'a' (columns 1 and 3)"),
    ("a, ,c\n1,2,3\n", 1, "column 2 has no name in the header row"),
    ('"a\nb",c,c\n1,2,3\n', 2, "duplicate column name 'c' (columns 2 and 3)"),
])
def test_header_problems_are_intake_errors(tmp_path: Path, content: str, line: int, reason: str) -> None:
    with pytest.raises(IntakeError) as info:
        read(write(tmp_path, "data.csv", content))
    assert (info.value.line, info.value.reason) == (line, reason)


def test_missing_required_column_is_raised_before_any_row(tmp_path: Path) -> None:
    path = write(tmp_path, "letters.csv", letters_csv())
    with path.open("rb") as stream, pytest.raises(IntakeError) as info:
        read_items(stream, "letters.csv", required_fields=["问题", "text", "label"])  # no next() needed
    assert str(info.value) == ("letters.csv, line 1: missing required columns 'text', 'label'; "
                               "the columns are '问题', '部门'")


def test_header_names_are_stripped_values_kept(tmp_path: Path) -> None:
    results = read(write(tmp_path, "data.csv", " text \t, dept\n  padded value ,x\n"))
    assert results[0].data == {"text": "  padded value ", "dept": "x"}


def test_multiline_quoted_cells_keep_physical_line_numbers(tmp_path: Path) -> None:
    content = ('text,dept\r\n'
               '"路灯坏了\r\n已经一周\r\n请尽快修",城管\r\n'     # lines 2-4
               'single,交通\r\n'                               # line 5
               '"two\nlines",环保\r\n'                          # lines 6-7
               ',\r\n'                                         # line 8: empty required field
               'last,城管\r\n')                                # line 9
    results = read(write(tmp_path, "multi.csv", content), required_fields=["text"])
    assert [(r.line, r.data["text"]) for r in results if isinstance(r, Item)] == [
        (2, "路灯坏了\n已经一周\n请尽快修"), (5, "single"), (6, "two\nlines"), (9, "last")]
    assert errors_of(results) == []  # ',' alone is a blank row, skipped


def test_missing_and_blank_required_fields_one_error_per_field(tmp_path: Path) -> None:
    content = "text,dept,note\n,城管,x\n   ,  ,y\nok,城管,\n"
    results = read(write(tmp_path, "data.csv", content), required_fields=["text", "dept"])
    assert errors_of(results) == [
        "data.csv, line 2, field 'text': missing required field 'text'",
        "data.csv, line 3, field 'text': missing required field 'text'",
        "data.csv, line 3, field 'dept': missing required field 'dept'",
    ]
    assert [r.line for r in results if isinstance(r, Item)] == [4]


def test_wrong_column_counts_are_row_errors_and_excel_padding_is_tolerated(tmp_path: Path) -> None:
    content = "a,b,c,,\n1,2,3,,\n1,2\n1,2,3,4\n\n,,,,\n7,8,9\n"
    results = read(write(tmp_path, "data.csv", content))
    assert errors_of(results) == [
        "data.csv, line 3: the row has 2 values but the header has 3 columns",
        "data.csv, line 4: the row has 4 values but the header has 3 columns",
    ]
    assert [(r.line, r.data) for r in results if isinstance(r, Item)] == [
        (2, {"a": "1", "b": "2", "c": "3"}), (7, {"a": "7", "b": "8", "c": "9"})]


def test_malformed_quoting_is_a_row_error_and_reading_resumes(tmp_path: Path) -> None:
    content = 'text,dept\n他说"你好",城管\n"quoted"tail,x\nnext,y\n"never closed,z\nswallowed,w\n'
    results = read(write(tmp_path, "quotes.csv", content))
    assert [r.data["text"] for r in results if isinstance(r, Item)] == ['他说"你好"', "next"]
    assert errors_of(results) == [
        'quotes.csv, line 3: text follows the closing " of a quoted cell; quote the whole cell '
        'and double any " inside it',
        'quotes.csv, line 5: a quoted cell is never closed: the " that opens it has no closing " '
        "before the end of the file",
    ]


def test_tsv_with_quoted_tab_and_chinese(tmp_path: Path) -> None:
    content = '问题\t部门\r\n"含\t制表符"\t城管\r\n路灯\t交通\r\n'
    results = read(write(tmp_path, "letters.tsv", content))
    assert [(r.line, r.data) for r in results] == [
        (2, {"问题": "含\t制表符", "部门": "城管"}), (3, {"问题": "路灯", "部门": "交通"})]


# --- gold, hashing, duplicates -------------------------------------------------------------

def test_gold_field_is_removed_from_data_and_blank_gold_is_none(tmp_path: Path) -> None:
    content = "text,answer\n路灯坏了,城管\n噪音扰民, \n路灯坏了,交通\n"
    first, second, third = read(write(tmp_path, "gold.csv", content), gold_field="answer")
    assert (first.data, first.gold) == ({"text": "路灯坏了"}, "城管")
    assert (second.data, second.gold) == ({"text": "噪音扰民"}, None)
    assert third.gold == "交通" and third.content_hash == first.content_hash  # gold is not content


def test_content_hash_is_sha256_of_canonical_json() -> None:
    data = {"部门": "城管", "text": "路灯", "n": 1}
    canonical = '{"n":1,"text":"路灯","部门":"城管"}'
    assert content_hash(data) == hashlib.sha256(canonical.encode("utf-8")).digest()[:16]
    assert content_hash(dict(reversed(list(data.items())))) == content_hash(data)


def test_json_and_jsonl_hash_alike_whatever_the_key_order(tmp_path: Path) -> None:
    array = read(write(tmp_path, "a.json", '[{"text": "路灯", "n": 1.5}]'))
    lines = read(write(tmp_path, "b.jsonl", '{"n": 1.5, "text": "路灯"}\n'))
    assert array[0].content_hash == lines[0].content_hash == content_hash({"text": "路灯", "n": 1.5})


# --- JSON and JSON Lines -------------------------------------------------------------------

def test_json_array_items_types_and_gold(tmp_path: Path) -> None:
    tasks = [{"text": "路灯坏了", "meta": {"id": 7, "score": 0.5, "tags": ["灯"]}, "label": ["城管"]},
             "not an object",
             {"meta": {}},
             {"text": "噪音", "label": None}]
    path = write(tmp_path, "tasks.json", "\ufeff" + json.dumps(tasks, ensure_ascii=False, indent=2))
    results = read(path, required_fields=["text"], gold_field="label")
    assert (results[0].line, results[0].data, results[0].gold) == (
        1, {"text": "路灯坏了", "meta": {"id": 7, "score": 0.5, "tags": ["灯"]}}, ["城管"])
    assert errors_of(results) == [
        "tasks.json, line 2: expected a JSON object {...}, got a string",
        "tasks.json, line 3, field 'text': missing required field 'text'",
    ]
    assert (results[3].line, results[3].data, results[3].gold) == (4, {"text": "噪音"}, None)


def test_json_top_level_must_be_an_array(tmp_path: Path) -> None:
    with pytest.raises(IntakeError, match="must hold a JSON array of objects"):
        read(write(tmp_path, "one.json", '{"text": "a"}'))


def test_broken_json_array_raises_after_the_good_items(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '[{"text": "a"}, {"text": "b"}, {"text": }]')
    results: list[Item | RowError] = []
    with path.open("rb") as stream, pytest.raises(IntakeError) as info:
        results.extend(read_items(stream, "broken.json"))
    assert [item.data["text"] for item in results] == ["a", "b"]
    assert info.value.line == 3 and info.value.reason.startswith("invalid JSON: parse error")


def test_json_must_be_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "gbk.json", '[{"text": "路灯坏了"}]', "gbk")
    with pytest.raises(IntakeError, match="JSON files must be UTF-8, but this one looks like GB18030"):
        read(path)


def test_jsonl_broken_line_is_a_row_error_and_reading_continues(tmp_path: Path) -> None:
    content = ('{"text": "路灯坏了", "label": "城管"}\r\n'
               '\r\n'
               '{"text": "噪音", \r\n'
               '[1, 2]\r\n'
               '{"text": NaN}\r\n'
               '{"text": "公交"}\r\n')
    results = read(write(tmp_path, "tasks.jsonl", content), gold_field="label")
    assert errors_of(results) == [
        "tasks.jsonl, line 3: invalid JSON: Expecting property name enclosed in double quotes (column 16)",
        "tasks.jsonl, line 4: expected a JSON object {...}, got an array",
        "tasks.jsonl, line 5: invalid JSON: NaN is not allowed in JSON",
    ]
    assert [(r.line, r.data, r.gold) for r in results if isinstance(r, Item)] == [
        (1, {"text": "路灯坏了"}, "城管"), (6, {"text": "公交"}, None)]


def test_jsonl_in_gbk_is_decoded(tmp_path: Path) -> None:
    results = read(write(tmp_path, "tasks.jsonl", '{"text": "路灯坏了"}\n', "gbk"))
    assert results[0].data == {"text": "路灯坏了"}


# --- XLSX ----------------------------------------------------------------------------------

def make_workbook(path: Path, rows: dict[int, list[Any]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row, values in rows.items():
        for column, value in enumerate(values, start=1):
            if value is not None:
                sheet.cell(row=row, column=column, value=value)
    workbook.save(path)
    return path


def test_xlsx_rows_values_and_sheet_row_numbers(tmp_path: Path) -> None:
    path = make_workbook(tmp_path / "letters.xlsx", {
        1: [" 问题 ", "部门", "编号", "日期", "分数", "紧急", "答案"],
        2: ["路灯坏了\r\n请修", "城管", 12, datetime(2024, 3, 1), 3.5, True, "A"],
        4: ["噪音", "环保", 13, datetime(2024, 3, 2, 8, 30), 2.0, False, None],  # row 3 left blank
        5: [None, "交通", 14],
        6: ["多", "余", 1, None, None, None, None, "extra"],
    })
    results = read(path, required_fields=["问题"], gold_field="答案")
    first, second = results[0], results[1]
    assert (first.line, first.gold) == (2, "A")
    assert first.data == {"问题": "路灯坏了\n请修", "部门": "城管", "编号": "12", "日期": "2024-03-01",
                          "分数": "3.5", "紧急": "TRUE"}
    assert (second.line, second.gold) == (4, None)
    assert second.data == {"问题": "噪音", "部门": "环保", "编号": "13", "日期": "2024-03-02 08:30:00",
                           "分数": "2", "紧急": "FALSE"}
    assert errors_of(results) == [
        "letters.xlsx, line 5, field '问题': missing required field '问题'",
        "letters.xlsx, line 6: the row has 8 values but the header has 7 columns",
    ]


def test_xlsx_required_fields_and_header_checks(tmp_path: Path) -> None:
    path = make_workbook(tmp_path / "data.xlsx", {1: ["text", "dept"], 2: [" ", "城管"]})
    assert errors_of(read(path, required_fields=["text"])) == [
        "data.xlsx, line 2, field 'text': missing required field 'text'"]
    with pytest.raises(IntakeError, match="missing required column 'label'"):
        read(path, required_fields=["label"])
    duplicate = make_workbook(tmp_path / "dup.xlsx", {1: ["a", "a"], 2: [1, 2]})
    with pytest.raises(IntakeError, match=r"duplicate column name 'a' \(columns 1 and 2\)"):
        read(duplicate)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "the file is empty"),
    (b"text,dept\n1,2\n", "this is not a valid .xlsx workbook"),
])
def test_xlsx_that_is_not_a_workbook(tmp_path: Path, content: bytes, reason: str) -> None:
    with pytest.raises(IntakeError) as info:
        read(write(tmp_path, "fake.xlsx", content))
    assert info.value.reason.startswith(reason)


def test_xlsx_from_an_unseekable_stream_cleans_up_its_copy(tmp_path: Path) -> None:
    content = make_workbook(tmp_path / "pipe.xlsx", {1: ["text"], 2: ["路灯"]}).read_bytes()
    assert [r.data for r in read_items(Unseekable(content), "pipe.xlsx")] == [{"text": "路灯"}]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(IntakeError, match="missing required column 'label'"):
            read_items(Unseekable(content), "pipe.xlsx", required_fields=["label"])
        unread = read_items(Unseekable(content), "pipe.xlsx")
        del unread
        gc.collect()
    assert [str(w.message) for w in caught] == []  # no unclosed spooled copy


# --- URL lists -----------------------------------------------------------------------------

def test_urls_one_per_line_with_comments_and_bad_lines(tmp_path: Path) -> None:
    content = ("# 第一批图片\n"
               "https://img.example.com/路灯/1.png\n"
               "\n"
               "  http://img.example.com/2.jpg  \n"
               "ftp://img.example.com/3.png\n"
               "not a url\n"
               "https:///no-host.png\n")
    results = read(write(tmp_path, "images.txt", content), required_fields=["image"])
    assert [(r.line, r.data) for r in results if isinstance(r, Item)] == [
        (2, {"image": "https://img.example.com/路灯/1.png"}), (4, {"image": "http://img.example.com/2.jpg"})]
    assert errors_of(results) == [
        "images.txt, line 5, field 'image': not an http(s) URL: 'ftp://img.example.com/3.png'",
        "images.txt, line 6, field 'image': not an http(s) URL: 'not a url'",
        "images.txt, line 7, field 'image': not an http(s) URL: 'https:///no-host.png'",
    ]


def test_urls_cannot_satisfy_other_required_columns(tmp_path: Path) -> None:
    with pytest.raises(IntakeError, match="missing required column 'text'; the columns are 'image'"):
        read(write(tmp_path, "images.txt", "https://a.example/1.png\n"), required_fields=["text"])


# --- streams -------------------------------------------------------------------------------

def test_reading_is_lazy_and_leaves_the_callers_stream_open() -> None:
    body = "".join(f"{i},{LETTERS[i % 3][0]}\n" for i in range(50_000)).encode()
    stream = Unseekable(b"id,text\n" + body)
    results = read_items(stream, "big.csv")
    first = next(results)
    assert first.line == 2 and stream.consumed <= 256 * 1024 < len(body)
    assert sum(1 for _ in results) == 49_999 and not stream.closed


def test_text_mode_stream_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="binary stream"):
        read_items(io.StringIO("a\n1\n"), "data.csv")  # type: ignore[arg-type]
