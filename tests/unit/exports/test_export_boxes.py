"""Box datasets read back with the tools their users use: pycocotools, an XML parser, YOLO's text and YAML.

The pictures: a.png 640x480 with a bird nest at 10%,20% sized 25%x50% (64,96 160x240 px) and a
broken insulator at 50%,50% sized 50%x50% (320,240 320x240 px); b.jpg 320x240 with a foreign object
at 12.5%,25% sized 37.5%x12.5% (40,60 120x30 px); c.png 200x100 without boxes.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import yaml
from pycocotools.coco import COCO

from exports.formats import FORMATS
from exports.formats.yolo import data_yaml


def test_coco_loads_with_pycocotools_and_boxes_are_in_pixels(items_of, specs, write_twice):
    folder, written = write_twice("coco", items_of["boxes"](), specs["boxes"])
    assert [path.relative_to(folder).as_posix() for path in written] == [
        "annotations/instances_train.json", "annotations/instances_validation.json",
        "annotations/instances_test.json", "images"]
    assert sorted(path.name for path in (folder / "images").iterdir()) == ["501.png", "502.jpg", "503.png"]
    train = COCO(str(folder / "annotations/instances_train.json"))
    assert train.getImgIds() == [501]
    assert [c["name"] for c in train.loadCats(train.getCatIds())] == ["绝缘子破损", "鸟巢", "线路异物"]
    image = train.loadImgs(501)[0]
    assert (image["file_name"], image["width"], image["height"]) == ("501.png", 640, 480)
    annotations = train.loadAnns(train.getAnnIds(imgIds=[501]))
    assert [(a["id"], a["category_id"], a["bbox"], a["area"]) for a in annotations] == [
        (1, 2, [64, 96, 160, 240], 38400), (2, 1, [320, 240, 320, 240], 76800)]
    validation = COCO(str(folder / "annotations/instances_validation.json"))
    (foreign,) = validation.loadAnns(validation.getAnnIds())
    assert foreign["bbox"] == [40, 60, 120, 30] and foreign["category_id"] == 3
    test = COCO(str(folder / "annotations/instances_test.json"))
    assert test.loadImgs(503)[0]["width"] == 200 and test.getAnnIds() == []


def test_coco_turns_a_rotated_box_into_its_enclosing_box(builders, specs, tmp_path):
    item, rectangle = builders["item"], builders["rectangle"]
    # 160x120 px at 300,100 px on 640x480, turned 90 degrees clockwise about its top-left corner:
    # it then spans x 180..300 and y 100..260.
    turned = item(1, {"image": "/media/a.png"}, result=[rectangle("鸟巢", 300 / 6.4, 100 / 4.8, 25, 25, (640, 480), 90)])
    FORMATS["coco"]([turned], tmp_path, specs["boxes"])
    coco = COCO(str(tmp_path / "annotations/instances_train.json"))
    assert coco.loadAnns(coco.getAnnIds())[0]["bbox"] == pytest.approx([180, 100, 120, 160], abs=1e-3)


def _voc(path):
    root = ET.parse(path).getroot()
    objects = [(o.findtext("name"), [int(o.find("bndbox").findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
               for o in root.iter("object")]
    size = root.find("size")
    return root.findtext("filename"), [int(size.findtext(k)) for k in ("width", "height", "depth")], objects


def test_voc_xml_parses_with_chinese_names_and_one_based_corners(items_of, specs, write_twice):
    folder, written = write_twice("voc", items_of["boxes"](), specs["boxes"])
    assert {path.relative_to(folder).as_posix() for path in written} == {
        "ImageSets/Main/train.txt", "ImageSets/Main/val.txt", "ImageSets/Main/test.txt", "labels.txt",
        "Annotations", "JPEGImages"}
    assert "<name>鸟巢</name>".encode() in (folder / "Annotations/501.xml").read_bytes()
    assert _voc(folder / "Annotations/501.xml") == ("501.png", [640, 480, 3], [
        ("鸟巢", [65, 97, 224, 336]), ("绝缘子破损", [321, 241, 640, 480])])
    assert _voc(folder / "Annotations/502.xml") == ("502.jpg", [320, 240, 3], [("线路异物", [41, 61, 160, 90])])
    assert _voc(folder / "Annotations/503.xml") == ("503.png", [200, 100, 3], [])
    assert (folder / "ImageSets/Main/val.txt").read_text() == "502\n"
    assert (folder / "labels.txt").read_text(encoding="utf-8") == "绝缘子破损\n鸟巢\n线路异物\n"
    assert sorted(path.name for path in (folder / "JPEGImages").iterdir()) == ["501.png", "502.jpg", "503.png"]


def test_voc_escapes_markup_in_label_names(builders, specs, tmp_path):
    from dataclasses import replace
    item, rectangle = builders["item"], builders["rectangle"]
    spec = replace(specs["boxes"], labels=("<鸟巢> & \"线\"",))
    FORMATS["voc"]([item(1, {"image": "/media/a.png"}, result=[rectangle(spec.labels[0], 0, 0, 10, 10, (640, 480))])],
                   tmp_path, spec)
    assert _voc(tmp_path / "Annotations/1.xml")[2] == [("<鸟巢> & \"线\"", [1, 1, 64, 48])]


def _yolo(path):
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


def test_yolo_labels_are_normalised_centres_and_sizes(items_of, specs, write_twice):
    folder, written = write_twice("yolo", items_of["boxes"](), specs["boxes"])
    assert [path.name for path in written] == ["data.yaml", "images", "labels"]
    assert _yolo(folder / "labels/train/501.txt") == [
        [1, pytest.approx(0.225, abs=1e-6), pytest.approx(0.45, abs=1e-6), pytest.approx(0.25, abs=1e-6),
         pytest.approx(0.5, abs=1e-6)],
        [0, pytest.approx(0.75, abs=1e-6), pytest.approx(0.75, abs=1e-6), pytest.approx(0.5, abs=1e-6),
         pytest.approx(0.5, abs=1e-6)]]
    assert _yolo(folder / "labels/val/502.txt") == [[2, pytest.approx(0.3125, abs=1e-6), pytest.approx(0.3125, abs=1e-6),
                                                     pytest.approx(0.375, abs=1e-6), pytest.approx(0.125, abs=1e-6)]]
    assert (folder / "labels/test/503.txt").read_text() == ""
    assert (folder / "images/val/502.jpg").is_file() and (folder / "images/test/503.png").is_file()
    described = yaml.safe_load((folder / "data.yaml").read_text(encoding="utf-8"))
    assert described == {"train": "images/train", "val": "images/val", "test": "images/test", "nc": 3,
                         "names": {0: "绝缘子破损", 1: "鸟巢", 2: "线路异物"}}


@pytest.mark.parametrize("name", ['say "hi"', "a: b # not a comment", "- dash", "yes", "007", "tab\there",
                                  "back\\slash", "line\u2028separator", "'single'", "{braces}", "𠀋 astral"])
def test_yolo_yaml_names_survive_any_characters(name, specs):
    from dataclasses import replace
    spec = replace(specs["boxes"], labels=(name, "鸟巢"))
    assert yaml.safe_load(data_yaml(spec))["names"] == {0: name, 1: "鸟巢"}


def test_a_picture_turned_by_exif_gets_its_upright_size(builders, specs, tmp_path):
    from dataclasses import replace

    from PIL import Image

    from exports.formats import LocalImage
    path = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees: the editor sees it 200 wide, 300 high
    Image.new("RGB", (300, 200), (10, 20, 30)).save(path, exif=exif)
    spec = replace(specs["boxes"], images={"/media/turned.jpg": LocalImage(path)})
    FORMATS["coco"]([builders["item"](4, {"image": "/media/turned.jpg"})], tmp_path / "coco", spec)
    coco = COCO(str(tmp_path / "coco/annotations/instances_train.json"))
    assert (coco.loadImgs(4)[0]["width"], coco.loadImgs(4)[0]["height"]) == (200, 300)


def test_box_formats_refuse_a_label_outside_the_label_set(builders, specs, tmp_path):
    item, rectangle = builders["item"], builders["rectangle"]
    stray = item(8, {"image": "/media/a.png"}, result=[rectangle("杆塔倾斜", 0, 0, 10, 10, (640, 480))])
    for name in ("coco", "voc", "yolo"):
        with pytest.raises(ValueError, match="task 8: label '杆塔倾斜' is not in the label set"):
            FORMATS[name]([stray], tmp_path / name, specs["boxes"])


def test_box_formats_refuse_a_picture_they_cannot_find(builders, specs, tmp_path):
    lost = builders["item"](9, {"image": "/media/missing.png"})
    with pytest.raises(ValueError, match="task 9: no local image for image='/media/missing.png'"):
        FORMATS["yolo"]([lost], tmp_path, specs["boxes"])
