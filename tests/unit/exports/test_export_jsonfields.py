"""String fields cut out of flat JSON objects in bulk (exports.jsonfields) are json.loads's values,
and every text that is not a flat object of strings is left for json.loads, whatever it holds."""
from __future__ import annotations

import json

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from exports.jsonfields import string_fields


def compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def expected(texts: list[str | None], names: tuple[str, ...]) -> list[list[str | None]]:
    """Each name's value in each text as json.loads reads it (None where missing)."""
    loaded = [json.loads(text) if text is not None else None for text in texts]
    return [[value.get(name) if isinstance(value, dict) else None for value in loaded] for name in names]


def check(texts: list[str | None], names: tuple[str, ...], array: pa.StringArray | None = None) -> list[bool]:
    """string_fields over `texts` (or over `array`, holding them), checked against json.loads; which were flat."""
    values, flat = string_fields(array if array is not None else pa.array(texts, pa.string()), names)
    assert len(values) == len(names) and len(flat) == len(texts)
    for got, want in zip(values, expected(texts, names), strict=True):
        assert len(got) == len(texts)
        for is_flat, mine, theirs in zip(flat.tolist(), got.to_pylist(), want, strict=True):
            if is_flat:
                assert isinstance(theirs, str) or theirs is None
                assert mine == theirs
            else:
                assert mine is None
    return flat.tolist()


def test_flat_objects_of_strings_give_their_values():
    texts = [compact({"text": "市民来信：路灯坏了"}), compact({"a": "1", "text": "x", "b": ""}),
             compact({"other": "no text here"}), compact({"text": ""}), compact({"text": "emoji 😀 \u2028 , : { } ["})]
    assert check(texts, ("text",)) == [True] * 5
    assert check(texts, ("a", "text", "b", "")) == [True] * 5
    around_inline = [compact({"text": "x" * length}) for length in (11, 12, 13, 14)]  # views inline up to 12
    assert check(around_inline, ("text",)) == [True] * 4
    values, _ = string_fields(pa.array(texts), ("text",))
    assert values[0].to_pylist() == ["市民来信：路灯坏了", "x", None, "", "emoji 😀 \u2028 , : { } ["]


def test_anything_else_is_left_for_json_loads():
    texts = [json.dumps({"text": "spaced"}), compact({"text": "a\nb"}), compact({"text": 12.0}),
             compact({"text": None}), compact({"text": {"z": "1"}}), compact({"text": ["x"]}), compact({"text": True}),
             compact({"text": "nul \u0000"}), compact({"text": 'say "hi"'}), compact({"te\"xt": "x"}),
             '{"text":"first","text":"second"}', '{"text":"x","n":1}', '{"n":1,"text":"x"}', "{}", '"text"',
             '["text","x"]', "null", '{"text":"x"} ', ' {"text":"x"}', '{"text" :"x"}', '{"text":"x"}',
             compact({"\u0074ext": "x"}).replace("text", "\\u0074ext"), compact({"text": "x", "a": {"b": "c"}}), None]
    flat = check(texts, ("text",))
    assert flat[-4] is True  # '{"text":"x"}', the only flat one
    assert flat.count(True) == 1


def test_a_repeated_key_that_is_not_wanted_does_not_matter():
    assert check(['{"a":"1","a":"2","text":"x"}'], ("text",)) == [True]
    assert check(['{"a":"1","a":"2","text":"x"}'], ("a",)) == [False]


def test_a_slice_of_a_longer_array_reads_its_own_rows():
    texts = [compact({"text": f"第{number}行" * (number % 4)}) if number % 3 else compact({"text": number})
             for number in range(40)]
    whole = pa.array(texts)
    assert check(texts[7:23], ("text",), whole.slice(7, 16)) == [number % 3 != 0 for number in range(7, 23)]
    assert check([], ("text",), whole.slice(5, 0)) == []


plain = st.text(alphabet=st.sampled_from(["a", "t", "x", "中", ":", ",", "{", "}", " ", "😀"]), max_size=4)
odd = st.text(alphabet=st.sampled_from(["t", '"', "\\", "\n", "\u0000", "\u2028"]), min_size=1, max_size=3)
key = st.sampled_from(["text", "x", "", "te"]) | plain | odd
value = plain | plain | odd | st.none() | st.integers(-3, 3) | st.lists(plain, max_size=2) | st.dictionaries(key, plain, max_size=1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(key, plain, max_size=4) | st.dictionaries(key, plain | odd, max_size=3)
                | st.dictionaries(key, value, max_size=4) | value, max_size=12), st.integers(0, 3))
def test_any_json_gives_json_loads_values_or_is_left(values, style):
    """Mostly the intake's compact JSON (style 0 and 1), the rest spaced or ASCII-escaped."""
    texts = [json.dumps(entry, ensure_ascii=style == 3, separators=(", ", ": ") if style == 2 else (",", ":"))
             for entry in values]
    check(texts, ("text", "x", ""))
