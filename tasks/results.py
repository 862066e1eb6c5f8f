"""Annotation results in Label Studio's format: check them against the job's config, read labels.

A result is a list of regions, each `{"from_name", "to_name", "type", "value"}`, exactly what the
Label Studio editor produces and its API takes.
"""
from __future__ import annotations

from typing import Any

from errors import InvalidInput
from projects.label_config import LabelConfig

_TYPE_OF = {"Choices": "choices", "Labels": "labels", "RectangleLabels": "rectanglelabels",
            "TextArea": "textarea", "Rating": "rating", "Number": "number", "Pairwise": "pairwise",
            "PolygonLabels": "polygonlabels", "KeyPointLabels": "keypointlabels",
            "Taxonomy": "taxonomy", "Ranker": "ranker", "DateTime": "datetime"}


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
        if region.get("to_name") != control.to_name or region.get("type") != _TYPE_OF.get(control.tag):
            raise InvalidInput(f"{where}: to_name/type do not match control {control.name!r} "
                               f"(expected {control.to_name!r}/{_TYPE_OF.get(control.tag)!r})")
        if control.tag == "Choices":
            picked = region["value"].get("choices")
            if not isinstance(picked, list) or not picked or any(c not in control.choices for c in picked):
                raise InvalidInput(f"{where}.value.choices: {picked!r} is not among {list(control.choices)}")
    return result


def primary_label(config: LabelConfig, result: list[dict[str, Any]]) -> str | None:
    """The classification label of a result (several choices joined by '|'), if the job has one."""
    control = config.classification
    if control is None:
        return None
    for region in result:
        if region.get("from_name") == control.name:
            return "|".join(sorted(region["value"]["choices"]))
    return None
