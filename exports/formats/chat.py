"""Chat / instruction JSONL for free-text jobs (questions answered, instructions carried out).

`chat_style="messages"` writes `{"messages": [{"role": "user", …}, {"role": "assistant", …}]}`
(the shape chat fine-tuning tools take); `"instruction"` writes `{"instruction", "input",
"output"}` (Alpaca style). The answer is the consensus TextArea text. Lines carry nothing else,
since some fine-tuning services refuse unknown keys.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from exports.formats.items import ExportItem, FormatSpec, check_split
from exports.formats.outputs import json_line, split_files, split_paths
from exports.formats.regions import answer_text


def _text(item: ExportItem, name: str | None) -> str:
    value = item.data.get(name) if name else None
    return "" if value is None else str(value)


def chat_record(item: ExportItem, spec: FormatSpec) -> dict[str, Any]:
    """The item as one training example; ValueError naming the task if it has no answer."""
    answer = answer_text(item)
    if answer is None:
        raise ValueError(f"task {item.id}: no TextArea answer in the consensus result")
    prompt, context = _text(item, spec.prompt_field), _text(item, spec.context_field)
    if spec.chat_style == "instruction":
        return {"instruction": prompt, "input": context, "output": answer}
    question = f"{context}\n\n{prompt}" if context else prompt
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def write_chat(items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
    """`{split}.jsonl`, one example per line."""
    with split_files(folder, "{split}.jsonl") as files:
        for item in items:
            files[check_split(item)].write(json_line(chat_record(item, spec)))
    return split_paths(folder, "{split}.jsonl")
