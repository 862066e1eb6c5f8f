"""The per-row shortcuts of the table readers give exactly what the general code gives.

Reading a CSV of a million rows runs a few lines per row millions of times, so those lines take
shortcuts: the usual row skips `_table_record`, table rows are encoded with a per-file template
instead of `canonical_json`, required cells are checked by a strip of their text, and items are
hashed and built inline. Each is checked here
against the general function, over arbitrary text."""
from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from projects import intake, intake_formats
from projects.intake import Item, RowError, canonical_json, content_hash, read_items

FAST = settings(max_examples=200, deadline=None, derandomize=True, database=None)
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8)
NAMES = st.lists(TEXT.filter(lambda name: name and name == name.strip()), max_size=5, unique=True)


@FAST
@given(names=NAMES, data=st.data())
def test_the_usual_row_is_the_record_table_record_makes(names, data):
    cells = data.draw(st.lists(TEXT, min_size=len(names), max_size=len(names)))
    header = tuple(names)
    if len(cells) == len(header) and any(cells):  # the condition _csv_records takes the shortcut on
        assert intake_formats._table_record(list(cells), header, "f.csv", 7) == (7, dict(zip(header, cells)))


@FAST
@given(names=NAMES, data=st.data())
def test_table_template_is_canonical_json(names, data):
    row = {name: data.draw(TEXT) for name in names}
    assert intake._table_json(names)(row) == canonical_json(row)


@FAST
@given(names=NAMES.filter(bool), data=st.data())
def test_table_blank_check_is_the_general_one(names, data):
    row = {name: data.draw(st.sampled_from(["", " ", "\t\u3000", "\n"]) | TEXT) for name in names}
    required = tuple(data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True)))
    assert intake._blank_check(required, True)(row) == intake._blank_check(required, False)(row) \
        == any(intake._is_blank(row[name]) for name in required)


@FAST
@given(rows=st.lists(st.tuples(TEXT, TEXT, TEXT), max_size=6), gold=st.booleans())
def test_csv_items_are_the_general_items(rows, gold):
    body = "".join(",".join('"' + cell.replace('"', '""') + '"' for cell in row) + "\n" for row in rows)
    source = ("a,b,g\n" + body).encode("utf-8")
    gold_field = "g" if gold else None
    results = list(read_items(io.BytesIO(source), "f.csv", required_fields=["a"], gold_field=gold_field))
    for result in results:
        if isinstance(result, RowError):
            assert result.field == "a" and not result.line < 2
            continue
        data = dict(result.data)
        assert result == Item(result.line, data, result.gold, content_hash(data), canonical_json(data))
        assert type(result) is Item
