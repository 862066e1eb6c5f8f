"""CoNLL files read back with seqeval, and chat / instruction JSONL read back with json."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seqeval.metrics import classification_report
from seqeval.metrics.sequence_labeling import get_entities

from exports.formats import FORMATS, ExportItem, FormatSpec
from exports.formats.conll import bio_tags, tokenize
from exports.formats.regions import spans


def _sentences(path):
    """(tokens, tags) per blank-line-separated sentence, as a CoNLL reader sees them."""
    sentences, tokens, tags = [], [], []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line:
            token, tag = line.split("\t")
            tokens.append(token)
            tags.append(tag)
        elif tokens:
            sentences.append((tokens, tags))
            tokens, tags = [], []
    return sentences


def _entities(tokens, tags):
    return [(label, "".join(tokens[start:end + 1])) for label, start, end in get_entities(tags)]


def test_conll_reads_back_with_seqeval_recovering_each_entity(items_of, specs, write_twice):
    folder, written = write_twice("conll", items_of["spans"](), specs["spans"])
    assert [path.name for path in written] == ["train.conll", "validation.conll", "test.conll"]
    (train,) = _sentences(folder / "train.conll")  # the blank-text item is left out
    assert _entities(*train) == [("自首", "自首")]
    (validation,) = _sentences(folder / "validation.conll")
    assert _entities(*validation) == [("坦白", "坦白"), ("认罪认罚", "认罪认罚")]
    assert "No" in validation[0] and "2024" in validation[0] and "17" in validation[0]
    (test,) = _sentences(folder / "test.conll")
    assert test[0][0] == "𠀋" and _entities(*test) == [("累犯", "累犯")]
    report = classification_report([validation[1]], [validation[1]], output_dict=True)
    assert {label: report[label]["support"] for label in ("坦白", "认罪认罚")} == {"坦白": 1, "认罪认罚": 1}


def test_conll_file_is_token_tab_tag_with_a_blank_line_after_each_item(items_of, specs, tmp_path):
    FORMATS["conll"](items_of["spans"](), tmp_path, specs["spans"])
    text = (tmp_path / "train.conll").read_text(encoding="utf-8")
    assert text.startswith("被\tO\n告\tO\n") and "系\tO\n自\tB-自首\n首\tI-自首\n，\tO\n" in text
    assert text.endswith("。\tO\n\n") and "\n\n\n" not in text


def test_tokens_split_cjk_by_character_and_keep_latin_and_digit_runs():
    assert [t.text for t in tokenize("签署No.2024-17号 Ｅ栋 café")] == [
        "签", "署", "No", ".", "2024", "-", "17", "号", "Ｅ", "栋", "café"]
    assert [(t.start, t.end) for t in tokenize(" 甲 ab ")] == [(1, 2), (3, 5)]


def test_overlapping_spans_keep_the_first_and_longest():
    text = "被告人系累犯"
    item = ExportItem(1, {"text": text}, "train", None, [
        {"type": "labels", "value": {"start": 4, "end": 6, "text": "累犯", "labels": ["累犯"]}},
        {"type": "labels", "value": {"start": 3, "end": 6, "text": "系累犯", "labels": ["坦白"]}}], 1.0, 2)
    assert bio_tags(tokenize(text), spans(item, text)) == ["O", "O", "O", "B-坦白", "I-坦白", "I-坦白"]


_PIECES = st.lists(st.tuples(st.sampled_from(["被告", "自首", "Li", "2024", "，", "认罪认罚", "系", "𠀋"]),
                             st.sampled_from([None, "自首", "坦白", "累犯"]), st.booleans()),
                   min_size=1, max_size=12)


def _word_edge(left: str, right: str) -> bool:
    return left.isascii() and left.isalnum() and right.isascii() and right.isalnum()


@given(_PIECES)
def test_any_token_aligned_spans_come_back_from_the_tags(pieces):
    text, regions, expected = "", [], []
    for piece, label, spaced in pieces:
        if text and (spaced or _word_edge(text[-1], piece[0])):  # else "Li" "2024" would be one token
            text += " "
        start, text = len(text), text + piece
        if label:
            regions.append({"type": "labels", "value": {"start": start, "end": len(text), "labels": [label]}})
            expected.append((label, piece))
    item = ExportItem(1, {"text": text}, "train", None, regions, 1.0, 2)
    tokens = tokenize(text)
    assert "".join(t.text for t in tokens) == "".join(text.split())
    assert _entities([t.text for t in tokens], bio_tags(tokens, spans(item, text))) == expected


def test_chat_messages_pair_the_question_with_the_consensus_answer(items_of, specs, write_twice):
    folder, written = write_twice("chat", items_of["text"](), specs["text"])
    assert [path.name for path in written] == ["train.jsonl", "validation.jsonl", "test.jsonl"]
    (first,) = [json.loads(line) for line in (folder / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert first == {"messages": [
        {"role": "user", "content": "本市公积金提取办法（2024年修订）\n\n住房公积金能用来付房租吗？"},
        {"role": "assistant", "content": "可以。连续足额缴存满3个月且本人及配偶在本市无自有住房的，可按月提取。"}]}
    (second,) = [json.loads(line) for line in (folder / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    assert second["messages"][0] == {"role": "user", "content": "高龄津贴怎么申请？"}
    assert "\\u" not in (folder / "test.jsonl").read_text(encoding="utf-8")
    assert (folder / "validation.jsonl").read_text() == ""


def test_chat_instruction_style_writes_instruction_input_output(items_of, tmp_path):
    spec = FormatSpec("text", ("question", "context"), context_field="context", chat_style="instruction")
    FORMATS["chat"](items_of["text"](), tmp_path, spec)
    (line,) = (tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {"instruction": "住房公积金能用来付房租吗？", "input": "本市公积金提取办法（2024年修订）",
                                "output": "可以。连续足额缴存满3个月且本人及配偶在本市无自有住房的，可按月提取。"}


def test_chat_refuses_an_item_without_an_answer(builders, specs, tmp_path):
    with pytest.raises(ValueError, match="task 3: no TextArea answer"):
        FORMATS["chat"]([builders["item"](3, {"question": "？"})], tmp_path, specs["text"])
