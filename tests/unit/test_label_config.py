"""Unit tests for projects.label_config: every kind of bad config is refused with the problem and its
line named; good configs yield their data fields, controls and task type; Label Studio's own SDK
parser is the independent check that what we accept is valid there too.
"""
from __future__ import annotations

import textwrap

import pytest
from label_studio_sdk.label_interface import LabelInterface

from errors import InvalidInput
from projects.label_config import (LabelConfig, check_data_fields, known_tags, parse,
                                   text_classification)


def config(body: str) -> str:
    """A config from an indented snippet; line 1 is `<View>`, so the snippet starts on line 2."""
    return "<View>\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ") + "\n</View>"


def refused(xml: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse(xml)
    return caught.value.message


CLASSIFY = config("""
    <Header value="请选择部门"/>
    <Text name="text" value="$text"/>
    <Choices name="label" toName="text" choice="single">
      <Choice value="教育"/>
      <Choice value="交通运输"/>
    </Choices>
""")


def test_a_good_config_yields_its_fields_controls_and_objects():
    parsed = parse(CLASSIFY)
    assert parsed.xml == CLASSIFY and parsed.data_fields == {"text"}
    assert parsed.classification is not None and parsed.classification.choices == ("教育", "交通运输")
    assert parsed.classification.line == 4 and parsed.classification.to_names == ("text",)
    assert [(o.tag, o.name, o.data_field, o.line) for o in parsed.objects] == [("Text", "text", "text", 3)]
    assert parsed.task_type == "text_classification"


@pytest.mark.parametrize("xml, expected", [
    ("<View><Text name='t' value='$text'/>", "malformed XML at line 1, column 37 (no element found)"),
    ("<View>\n  <Text name='t' value='$text'>\n</View>", "malformed XML at line 3, column 3 (mismatched tag)"),
    ("<View>\n\n  <Text name='t' value='$a' value='$b'/>\n</View>",
     "malformed XML at line 3, column 29 (duplicate attribute)"),
    ("<View>&nbsp;</View>", "malformed XML at line 1, column 7 (undefined entity)"),
    ("", "malformed XML at line 1, column 1 (no element found)"),
])
def test_malformed_xml_is_refused_with_its_line_and_column(xml, expected):
    assert refused(xml) == f"label_config: {expected}"


@pytest.mark.parametrize("xml", [
    '<?xml version="1.0"?>\n'
    '<!DOCTYPE View [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>\n<View>&b;</View>',
    '<!DOCTYPE View [<!ENTITY x SYSTEM "file:///etc/passwd">]><View>&x;</View>',
    '<!DOCTYPE View SYSTEM "http://example.invalid/x.dtd"><View/>',
])
def test_dtds_and_entities_are_refused_before_anything_expands(xml):
    message = refused(xml)
    assert "forbidden XML construct" in message and "DOCTYPE" in message


def test_the_root_must_be_view():
    assert refused("<Text name='t' value='$text'/>") == \
        "label_config, line 1: the root element must be <View>, not <Text>"


@pytest.mark.parametrize("tag, hint", [
    ("Textt", "did you mean <Text>?"),
    ("choices", "did you mean <Choices>?"),
    ("Rectangles", "did you mean <Rectangle>?"),
    ("Script", "see labelstud.io/tags for the tags it knows"),
])
def test_unknown_tags_are_refused_with_their_line_and_a_suggestion(tag, hint):
    xml = config(f"""
        <Text name="text" value="$text"/>
        <{tag} name="x" toName="text"/>
    """)
    assert refused(xml) == f"label_config, line 3: unknown tag <{tag}>: Label Studio has no such tag ({hint})"


def test_the_allow_list_comes_from_the_sdk_plus_layout_tags():
    kinds = known_tags()
    assert {kinds[t] for t in ("Text", "Image", "HyperText", "Paragraphs", "TimeSeries")} == {"object"}
    controls = ("Choices", "Labels", "RectangleLabels", "TextArea", "Pairwise", "Rating")
    assert {kinds[t] for t in controls} == {"control"}
    assert {kinds[t] for t in ("Choice", "Label", "Relation")} == {"option"}
    assert {kinds[t] for t in ("View", "Header", "Style", "Filter", "Collapse", "Panel")} == {"layout"}
    assert "Script" not in kinds and "script" not in kinds


@pytest.mark.parametrize("body, line, expected", [
    ('<Text value="$text"/>', 2, '<Text> needs name="..." so controls can point at it'),
    ('<Text name="text"/>', 2,
     "<Text name='text'> needs value=\"$field\" naming the data field it shows (got '')"),
    ('<Image name="img" value="photo.png"/>', 2, "<Image name='img'> needs value=\"$field\" naming the data field "
                                                  "it shows (got 'photo.png')"),
    ('<Text name="text" value="$"/>', 2, "<Text name='text'> needs value=\"$field\""),
])
def test_object_tags_need_a_name_and_a_data_field(body, line, expected):
    xml = config(f"""
        {body}
        <TextArea name="answer" toName="text"/>
    """)
    assert refused(xml).startswith(f"label_config, line {line}: {expected}")


def test_controls_need_a_name_and_a_target():
    no_name = config("""
        <Text name="text" value="$text"/>
        <TextArea toName="text"/>
    """)
    assert refused(no_name) == ('label_config, line 3: <TextArea> needs name="..." '
                                "(its answers are stored under that name)")
    no_target = config("""
        <Text name="text" value="$text"/>

        <TextArea name="answer"/>
    """)
    assert refused(no_target) == ("label_config, line 4: <TextArea name='answer'> needs toName=\"...\" "
                                  "naming the object tag it labels")


@pytest.mark.parametrize("to_name, wrong", [("zz", "zz"), ("label", "label"), ("text,zz", "zz")])
def test_a_target_must_name_an_object_tag(to_name, wrong):
    xml = config(f"""
        <Text name="text" value="$text"/>
        <Choices name="label" toName="{to_name}">
          <Choice value="是"/>
        </Choices>
    """)
    assert refused(xml) == (f"label_config, line 3: <Choices name='label'> points toName={wrong!r}, "
                            "which names no object tag (objects: text)")


def test_pairwise_compares_exactly_two_objects():
    xml = config("""
        <Text name="a" value="$a"/>
        <Pairwise name="pick" toName="a"/>
    """)
    assert refused(xml).startswith("label_config, line 3: <Pairwise name='pick'> compares exactly two objects")


def test_a_filter_must_point_at_a_control():
    xml = config("""
        <Filter name="find" toName="text"/>
        <Labels name="ner" toName="text"><Label value="人名"/></Labels>
        <Text name="text" value="$text"/>
    """)
    assert refused(xml) == "label_config, line 2: <Filter> points toName='text', which names no control tag"
    assert parse(xml.replace('toName="text"/>', 'toName="ner"/>', 1)).task_type == "ner"


@pytest.mark.parametrize("second", ['<Text name="text" value="$other"/>',
                                    '<Choices name="text" toName="text"><Choice value="a"/></Choices>'])
def test_names_are_unique_across_objects_and_controls(second):
    xml = config(f"""
        <Text name="text" value="$text"/>
        <TextArea name="answer" toName="text"/>
        {second}
    """)
    assert refused(xml) == ("label_config, line 4: name 'text' is already used by <Text> on line 2; "
                            "names must be unique")


@pytest.mark.parametrize("tag, option", [("Choices", "Choice"), ("Labels", "Label"), ("Taxonomy", "Choice")])
def test_option_controls_need_options(tag, option):
    xml = config(f"""
        <Text name="text" value="$text"/>
        <{tag} name="label" toName="text">
        </{tag}>
    """)
    assert refused(xml) == (f"label_config, line 3: <{tag} name='label'> has no options: "
                            f'add <{option} value="..."/> children')


def test_box_labels_need_options_too():
    xml = config("""
        <Image name="image" value="$image"/>
        <RectangleLabels name="box" toName="image"/>
    """)
    assert refused(xml).startswith("label_config, line 3: <RectangleLabels name='box'> has no options: add <Label")


def test_repeated_options_are_refused_where_they_repeat():
    xml = config("""
        <Text name="text" value="$text"/>
        <Choices name="label" toName="text">
          <Choice value="教育"/>
          <Choice value="交通"/>
          <Choice value="教育"/>
        </Choices>
    """)
    assert refused(xml) == "label_config, line 6: <Choices name='label'> repeats the option '教育' (first on line 4)"


def test_an_alias_is_the_value_results_carry_so_it_must_be_unique():
    xml = config("""
        <Text name="text" value="$text"/>
        <Labels name="ner" toName="text">
          <Label value="人名" alias="PER"/>
          <Label value="人物" alias="PER"/>
        </Labels>
    """)
    assert refused(xml) == "label_config, line 5: <Labels name='ner'> repeats the option 'PER' (first on line 4)"
    assert parse(xml.replace('人物" alias="PER"', '人物" alias="PERSON"')).controls[0].choices == ("PER", "PERSON")


def test_an_option_needs_a_value():
    xml = config("""
        <Text name="text" value="$text"/>
        <Choices name="label" toName="text">
          <Choice value="是"/>
          <Choice value=" "/>
        </Choices>
    """)
    assert refused(xml) == ("label_config, line 5: <Choice> in <Choices name='label'> "
                            'needs a non-empty value="..."')


def test_options_nested_in_layout_tags_and_taxonomy_trees_count():
    xml = config("""
        <Text name="text" value="$text"/>
        <Choices name="label" toName="text">
          <View><Header value="大类"/><Choice value="民生"/></View>
          <Choice value="其他"/>
        </Choices>
        <Taxonomy name="topic" toName="text">
          <Choice value="教育"><Choice value="其他"/></Choice>
          <Choice value="医疗"><Choice value="其他"/></Choice>
        </Taxonomy>
    """)
    parsed = parse(xml)
    assert parsed.classification is not None and parsed.classification.choices == ("民生", "其他")
    assert parsed.controls[1].choices == ("教育", "其他", "医疗", "其他")


def test_dynamic_options_come_from_the_data():
    xml = config("""
        <Text name="text" value="$text"/>
        <Choices name="label" toName="text" value="$options"/>
    """)
    assert parse(xml).data_fields == {"text", "options"}


def test_data_fields_include_data_driven_headers_but_not_static_ones():
    xml = config("""
        <Header value="$title"/>
        <Header value="请阅读"/>
        <Text name="text" value="$text"/>
        <TextArea name="answer" toName="text"/>
    """)
    assert parse(xml).data_fields == {"title", "text"}


def test_a_config_needs_an_object_and_a_control():
    assert refused(config('<Header value="空"/>')) == \
        "label_config: no object tag (Text, Image, ...) shows data to annotators"
    assert refused(config('<Text name="text" value="$text"/>')) == \
        "label_config: no control tag (Choices, Labels, ...) takes an answer"


def test_check_data_fields_names_the_missing_field_and_what_the_data_has():
    parsed = parse(CLASSIFY)
    check_data_fields(parsed, {"text", "source"}, where="questions.csv")
    with pytest.raises(InvalidInput) as caught:
        check_data_fields(parsed, ["b", "a"], where="questions.csv")
    assert caught.value.message == ("questions.csv: the label config uses $text, but the data has no field 'text' "
                                    "(fields: a, b)")
    pairwise = parse(config("""
        <Pairwise name="p" toName="left,right"/>
        <Text name="left" value="$answer_a"/>
        <Text name="right" value="$answer_b"/>
    """))
    with pytest.raises(InvalidInput) as caught:
        check_data_fields(pairwise, [], where="sample item 1")
    assert caught.value.message == ("sample item 1: the label config uses $answer_a, $answer_b, but the data has "
                                    "no field 'answer_a', 'answer_b' (fields: none)")


TYPED = [
    ("text_classification", CLASSIFY),
    ("multi_label", CLASSIFY.replace('choice="single"', 'choice="multiple"')),
    ("ner", config('<Labels name="l" toName="t"><Label value="人名"/></Labels><Text name="t" value="$text"/>')),
    ("image_classification", config('<Image name="i" value="$image"/>'
                                    '<Choices name="c" toName="i"><Choice value="正常"/></Choices>')),
    ("bbox", config('<Image name="i" value="$image"/>'
                    '<RectangleLabels name="b" toName="i"><Label value="鸟巢"/></RectangleLabels>')),
    ("bbox", config('<Image name="i" value="$image"/><Rectangle name="r" toName="i"/>'
                    '<Labels name="l" toName="i"><Label value="鸟巢"/></Labels>')),
    ("free_text", config('<Text name="q" value="$question"/><TextArea name="a" toName="q"/>')),
    ("text_classification", config('<Text name="q" value="$question"/><TextArea name="note" toName="q"/>'
                                   '<Choices name="c" toName="q"><Choice value="有效"/></Choices>')),
    ("pairwise", config('<Pairwise name="p" toName="a,b"/>'
                        '<Text name="a" value="$a"/><Text name="b" value="$b"/>')),
    ("other", config('<Text name="t" value="$text"/><Rating name="r" toName="t"/>')),
    ("other", config('<Audio name="a" value="$audio"/>'
                     '<Choices name="c" toName="a"><Choice value="男"/></Choices>')),
]


@pytest.mark.parametrize("task_type, xml", TYPED)
def test_task_type_is_inferred_from_the_controls(task_type, xml):
    assert parse(xml).task_type == task_type


@pytest.mark.parametrize("xml", [xml for _, xml in TYPED])
def test_label_studios_own_parser_accepts_what_we_accept(xml):
    LabelInterface(xml).validate()  # raises on a config Label Studio would refuse


def test_text_classification_still_builds_the_template_config():
    single = parse(text_classification(["交通运输", "教育"]))
    assert single.task_type == "text_classification" and single.classification.choices == ("交通运输", "教育")
    multiple = parse(text_classification([" 甲 ", "乙", ""], field_name="body", single=False))
    assert multiple.task_type == "multi_label" and multiple.data_fields == {"body"}
    with pytest.raises(InvalidInput, match="template.choices"):
        text_classification(["同一个", "同一个"])


def test_label_config_keeps_its_old_constructor():
    bare = LabelConfig(xml="<View/>", data_fields=frozenset({"text"}))
    assert bare.controls == () and bare.objects == () and bare.classification is None
    assert bare.task_type == "other"
