"""Annotation results in Label Studio's format: check them against the job's config, read labels.

A result is a list of regions, each `{"from_name", "to_name", "type", "value"}`, exactly what the
Label Studio editor produces and its API takes.
"""
from __future__ import annotations

from typing import Any

from errors import InvalidInput
from projects.label_config import Control, LabelConfig

# Result types Label Studio writes for each control tag (boxes may come as plain "rectangle").
_TYPES: dict[str, frozenset[str]] = {
    "Choices": frozenset({"choices"}), "Labels": frozenset({"labels"}),
    "RectangleLabels": frozenset({"rectanglelabels", "rectangle"}), "TextArea": frozenset({"textarea"}),
    "Rating": frozenset({"rating"}), "Number": frozenset({"number"}), "Pairwise": frozenset({"pairwise"}),
    "PolygonLabels": frozenset({"polygonlabels", "polygon"}),
    "KeyPointLabels": frozenset({"keypointlabels", "keypoint"}), "Taxonomy": frozenset({"taxonomy"}),
    "Ranker": frozenset({"ranker"}), "DateTime": frozenset({"datetime"})}
_OPTION_KEY = {"Choices": "choices", "Labels": "labels", "RectangleLabels": "rectanglelabels",
               "PolygonLabels": "polygonlabels", "KeyPointLabels": "keypointlabels"}


def validate(config: LabelConfig, result: Any) -> list[dict[str, Any]]:
    """Return `result` if every region fits a control of `config`; else InvalidInput saying where."""
    if not isinstance(result, list) or not result:
        raise InvalidInput("result: a non-empty list of regions is required")
    controls = {c.name: c for c in config.controls}
    for i, region in enumerate(result):
        where = f"result[{i}]"
        if not isinstance(region, dict) or not isinstance(region.get("value"), dict):
            raise InvalidInput(f"{where}: each region is an object with a 'value' object")
        control = controls.get(region.get("from_name", ""))
        if control is None:
            raise InvalidInput(f"{where}.from_name: {region.get('from_name')!r} is no control of this job "
                               f"(known: {', '.join(sorted(controls))})")
        _check_region(control, region, where)
    return result


def _check_region(control: Control, region: dict[str, Any], where: str) -> None:
    # Pairwise results name the control itself as their target; the others name an object.
    targets = control.to_names + ((control.name,) if control.tag == "Pairwise" else ())
    types = _TYPES.get(control.tag, frozenset({control.tag.lower()}))
    if region.get("to_name") not in targets or region.get("type") not in types:
        raise InvalidInput(f"{where}: to_name/type do not match control {control.name!r} "
                           f"(expected {'/'.join(targets)!r} and {'/'.join(sorted(types))!r})")
    key = _OPTION_KEY.get(control.tag)
    if key is None or key not in region["value"] and control.tag != "Choices":
        return
    picked = region["value"].get(key)
    if not isinstance(picked, list) or not picked or any(c not in control.choices for c in picked):
        raise InvalidInput(f"{where}.value.{key}: {picked!r} is not among {list(control.choices)}")
    if control.tag == "Choices" and not control.multiple and len(picked) > 1:
        raise InvalidInput(f"{where}.value.choices: this job takes one choice per answer")


def primary_label(config: LabelConfig, result: list[dict[str, Any]]) -> str | None:
    """The classification label of a result (several choices joined by '|'), if the job has one;
    for a pairwise comparison, the side chosen ("left" or "right"), so comparisons are QA'd as labels."""
    control = config.classification
    if control is None:
        pairwise = next((c for c in config.controls if c.tag == "Pairwise"), None)
        picked = [r["value"].get("selected") for r in result if pairwise and r.get("from_name") == pairwise.name
                  and isinstance(r.get("value"), dict)]
        return str(picked[0]) if picked and picked[0] else None
    for region in result:
        if region.get("from_name") == control.name:
            return "|".join(sorted(region["value"]["choices"]))
    return None


def gold_label(config: LabelConfig, gold: Any) -> str | None:
    """A gold answer as a classification label comparable with `results.primary_label`: it may be
    stored as a label ("交通运输"), labels joined by "|" or listed, or a Label Studio result."""
    if isinstance(gold, list) and gold and all(isinstance(region, dict) for region in gold):
        try:
            return primary_label(config, gold)
        except (KeyError, TypeError):
            return None
    if isinstance(gold, list):
        parts = [str(g) for g in gold]
    elif isinstance(gold, (str, int, float)) and not isinstance(gold, bool):
        parts = str(gold).split("|")
    else:
        return None
    return "|".join(sorted(p.strip() for p in parts if p.strip())) or None
