"""Unit tests for projects.templates and demo.images: every template builds a config that we and
Label Studio's SDK accept, infers the right task type and fits its own sample; bad options are
named; the synthetic inspection pictures are deterministic, valid PNGs with boxes on their defects.
"""
from __future__ import annotations

import io
import re

import pytest
from label_studio_sdk.label_interface import LabelInterface
from PIL import Image

from demo import images
from errors import InvalidInput
from projects.label_config import check_data_fields, parse
from projects.templates import CLASSIFICATION_SEEDS, DETECTION_SEEDS, TEMPLATES, build_config

KEYS = sorted(TEMPLATES)
CJK = re.compile(r"[\u4e00-\u9fff]")


def refused(key: str, **options) -> str:
    with pytest.raises(InvalidInput) as caught:
        TEMPLATES[key].build(options)
    return caught.value.message


def test_the_registry_offers_every_kind_of_job():
    assert KEYS == sorted(["text_classification", "multi_label", "ner", "image_classification", "bbox",
                           "free_text", "pairwise"])
    for key, template in TEMPLATES.items():
        assert template.key == key
        parts = re.fullmatch(r"([^A-Za-z]+) ([A-Za-z][A-Za-z &\-]+)", template.title)  # Chinese, then English
        assert parts and CJK.search(parts.group(1)), template.title


@pytest.mark.parametrize("key", KEYS)
def test_each_default_config_parses_and_has_the_templates_task_type(key):
    template = TEMPLATES[key]
    parsed = parse(template.build(template.default_options))
    assert parsed.task_type == key
    assert template.build() == template.build(template.default_options)


@pytest.mark.parametrize("key", KEYS)
def test_label_studios_own_parser_accepts_each_template(key):
    LabelInterface(TEMPLATES[key].build()).validate()


@pytest.mark.parametrize("key", KEYS)
def test_each_sample_is_small_chinese_and_fits_the_default_config(key):
    template = TEMPLATES[key]
    parsed, items = parse(template.build()), template.sample_items()
    assert 6 <= len(items) <= 12
    for i, item in enumerate(items):
        check_data_fields(parsed, item, where=f"{key} sample {i}")
        assert all(isinstance(value, str) and value.strip() for value in item.values())
    texts = [v for item in items for v in item.values() if not v.startswith(images.SAMPLE_PREFIX)]
    assert all(CJK.search(text) for text in texts)
    assert len({tuple(sorted(item.items())) for item in items}) == len(items), "sample items repeat"


def test_sample_items_are_fresh_copies():
    template = TEMPLATES["ner"]
    template.sample_items()[0]["text"] = "changed"
    assert template.sample_items()[0]["text"] != "changed"
    with pytest.raises(TypeError):
        template.default_options["field"] = "x"  # type: ignore[index]


def test_options_change_the_config():
    xml = TEMPLATES["ner"].build({"labels": ["人名", "地名", "机构名"], "field": "content", "header": ""})
    parsed = parse(xml)
    assert parsed.controls[0].choices == ("人名", "地名", "机构名") and parsed.data_fields == {"content"}
    assert "<Header" not in xml
    with pytest.raises(InvalidInput) as caught:
        check_data_fields(parsed, TEMPLATES["ner"].sample_items()[0], where="sample item 1")
    assert caught.value.message == ("sample item 1: the label config uses $content, but the data has no field "
                                    "'content' (fields: text)")
    qa = parse(TEMPLATES["free_text"].build({"context_field": "policy", "prompt_field": "instruction"}))
    assert qa.data_fields == {"policy", "instruction"} and qa.task_type == "free_text"
    multi = parse(TEMPLATES["image_classification"].build({"multiple": True}))
    assert multi.task_type == "image_classification" and multi.classification.multiple


def test_option_texts_are_escaped_not_injected():
    tricky = ['A & B', '"引号"', "<Text name='x'/>", "a'b"]
    parsed = parse(TEMPLATES["text_classification"].build({"choices": tricky}))
    assert parsed.classification.choices == tuple(tricky) and len(parsed.objects) == 1


@pytest.mark.parametrize("key, options, message", [
    ("ner", {"label": ["人名"]}, "template.label: ner has no such option (options: labels, field, header)"),
    ("text_classification", {"choices": "甲,乙"}, "template.choices: a list of texts"),
    ("text_classification", {"choices": ["甲", 2]}, "template.choices: a list of texts"),
    ("text_classification", {"choices": ["甲", " ", ""]},
     "template.choices: give 2 to 200 distinct entries (got 1)"),
    ("multi_label", {"choices": ["甲", "乙", " 甲"]}, "template.choices: '甲' is given twice"),
    ("ner", {"labels": []}, "template.labels: give 1 to 200 distinct entries (got 0)"),
    ("bbox", {"labels": [str(i) for i in range(201)]},
     "template.labels: give 1 to 200 distinct entries (got 201)"),
    ("bbox", {"labels": ["长" * 101]}, "template.labels: '长长长长长长长长长长长长长长长长长长长长'... is longer than 100"),
    ("text_classification", {"field": "1text"}, "template.field: a data field name of ASCII letters"),
    ("image_classification", {"field": "图片"}, "template.field: a data field name of ASCII letters"),
    ("text_classification", {"multiple": "yes"}, "template.multiple: true or false (got 'yes')"),
    ("ner", {"header": "$title"}, "template.header: plain text; a leading $ would name a data field"),
    ("free_text", {"placeholder": "x" * 301}, "template.placeholder: a text of at most 300 characters"),
    ("free_text", {"context_field": "question"}, "template.prompt_field: context_field, prompt_field must name"),
    ("pairwise", {"right_field": "answer_a"}, "template.right_field: prompt_field, left_field, right_field must"),
])
def test_bad_options_are_refused_by_name(key, options, message):
    assert refused(key, **options).startswith(message)


def test_build_config_takes_a_template_or_xml():
    body = {"template": {"type": "text_classification", "choices": ["交通运输", "教育"]}}
    assert parse(build_config(body)).classification.choices == ("交通运输", "教育")
    xml = TEMPLATES["pairwise"].build()
    assert build_config({"label_config": xml}) == xml
    assert parse(build_config({"template": {"type": "bbox"}})).task_type == "bbox"


@pytest.mark.parametrize("body, message", [
    ({}, "label_config: give a label_config, or a template to build one"),
    ({"label_config": ""}, "label_config: give a label_config, or a template to build one"),
    ({"template": {"type": "ner"}, "label_config": "<View/>"},
     "template: give either a template or a label_config"),
    ({"template": "ner"}, "template: an object such as"),
    ({"template": {"type": "video"}}, "template.type: one of text_classification, multi_label, ner"),
    ({"template": {"choices": ["甲", "乙"]}}, "template.type: one of"),
    ({"template": {"type": "ner", "labels": "人名"}}, "template.labels: a list of texts"),
])
def test_build_config_names_what_is_wrong(body, message):
    with pytest.raises(InvalidInput) as caught:
        build_config(body)
    assert caught.value.message.startswith(message)


# --- demo.images ------------------------------------------------------------------------------

def picture(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as check:
        check.verify()  # a truncated or corrupt PNG raises here
    return Image.open(io.BytesIO(png))


@pytest.mark.parametrize("seed", [1, 7, 24, 38])
def test_pictures_are_deterministic_valid_pngs(seed):
    png, boxes = images.power_line_image(seed)
    assert images.power_line_image(seed) == (png, boxes)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = picture(png)
    assert image.format == "PNG" and image.size == (640, 480)
    assert images.power_line_image(seed + 1)[0] != png


def test_boxes_are_inside_the_picture_and_land_on_a_defect():
    for seed in range(60):
        png, boxes = images.power_line_image(seed, size=(400, 300))
        image = picture(png).convert("RGB")
        assert image.size == (400, 300) and len(boxes) <= 2
        for box in boxes:
            assert box["label"] in images.DEFECTS and set(box) == {"label", "x", "y", "w", "h"}
            assert 0 <= box["x"] and 0 <= box["y"] and box["w"] > 0 and box["h"] > 0
            assert box["x"] + box["w"] <= 100 + 1e-9 and box["y"] + box["h"] <= 100 + 1e-9
            left, top = box["x"] * 4, box["y"] * 3
            crop = image.crop((left, top, left + box["w"] * 4, top + box["h"] * 3)).convert("L")
            low, high = crop.getextrema()
            assert high - low > 60, f"seed {seed}: the {box['label']} box holds plain sky"


def test_the_samples_show_every_defect_and_fit_the_image_templates():
    detected = [images.power_line_image(seed)[1] for seed in DETECTION_SEEDS]
    assert {box["label"] for boxes in detected for box in boxes} == set(images.DEFECTS)
    assert any(not boxes for boxes in detected) and any(len(boxes) == 2 for boxes in detected)
    assert set(parse(TEMPLATES["bbox"].build()).controls[0].choices) == set(images.DEFECTS)
    classified = [images.power_line_image(seed)[1] for seed in CLASSIFICATION_SEEDS]
    assert all(len(boxes) <= 1 for boxes in classified), "a single-choice sample shows two defects"


def test_sample_placeholders_turn_back_into_pictures():
    item = TEMPLATES["bbox"].sample_items()[0]
    assert item == {"image": f"sample://power-line/{DETECTION_SEEDS[0]}.png"}
    png = images.sample_image(item["image"])
    assert png == images.sample_image(item["image"].removeprefix("sample://"))
    assert png == images.power_line_image(DETECTION_SEEDS[0])[0]
    for name in ["sample://power-line/x.png", "power-line/1.jpg", "../power-line/1.png", "sample://other/1.png"]:
        with pytest.raises(ValueError, match="no sample image"):
            images.sample_image(name)


def test_tiny_pictures_are_refused():
    with pytest.raises(ValueError, match="at least 160x120"):
        images.power_line_image(1, size=(100, 100))
