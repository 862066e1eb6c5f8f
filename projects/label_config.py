"""Label configs: the Label Studio XML that says what annotators see and answer.

`parse` checks a config before it reaches Label Studio and reports problems with their line;
templates build the configs our users start from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from errors import InvalidInput

OBJECT_TAGS = {"Text", "HyperText", "Image", "Audio", "Video", "Table", "Paragraphs", "TimeSeries"}
CONTROL_TAGS = {"Choices", "Labels", "RectangleLabels", "PolygonLabels", "KeyPointLabels",
                "TextArea", "Rating", "Number", "Pairwise", "Ranker", "Taxonomy", "DateTime"}


@dataclass(frozen=True)
class Control:
    tag: str
    name: str
    to_name: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelConfig:
    xml: str
    data_fields: frozenset[str]  # the `$field` names tasks must carry
    controls: tuple[Control, ...] = field(default=())

    @property
    def classification(self) -> Control | None:
        """The first Choices control, which classification QA reads."""
        return next((c for c in self.controls if c.tag == "Choices"), None)


def parse(xml: str) -> LabelConfig:
    """Parse and check a config; InvalidInput names the problem and where."""
    try:
        root = fromstring(xml or "")
    except ParseError as err:
        raise InvalidInput(f"label_config: malformed XML ({err})") from None
    except DefusedXmlException as err:
        raise InvalidInput(f"label_config: forbidden XML construct ({type(err).__name__})") from None
    if root.tag != "View":
        raise InvalidInput(f"label_config: the root element must be <View>, not <{root.tag}>")
    objects, controls, fields = _walk(root)
    if not objects:
        raise InvalidInput("label_config: no object tag (Text, Image, ...) shows data to annotators")
    if not controls:
        raise InvalidInput("label_config: no control tag (Choices, Labels, ...) takes an answer")
    for control in controls:
        if control.to_name not in objects:
            raise InvalidInput(f"label_config: <{control.tag} name={control.name!r}> points toName="
                               f"{control.to_name!r}, which names no object tag")
    return LabelConfig(xml=xml, data_fields=frozenset(fields), controls=tuple(controls))


def _walk(root: Element) -> tuple[set[str], list[Control], set[str]]:
    objects: set[str] = set()
    controls: list[Control] = []
    fields: set[str] = set()
    for el in root.iter():
        if el.tag in OBJECT_TAGS:
            name, value = el.get("name"), el.get("value", "")
            if not name or not value.startswith("$") or len(value) < 2:
                raise InvalidInput(f"label_config: <{el.tag}> needs name=\"...\" and value=\"$field\"")
            objects.add(name)
            fields.add(value[1:])
        elif el.tag in CONTROL_TAGS:
            if not el.get("name") or not el.get("toName"):
                raise InvalidInput(f"label_config: <{el.tag}> needs name=\"...\" and toName=\"...\"")
            options = tuple(c.get("value", "") for c in el if c.tag in ("Choice", "Label"))
            controls.append(Control(el.tag, el.get("name", ""), el.get("toName", ""), options))
    return objects, controls, fields


def text_classification(choices: list[str], field_name: str = "text", single: bool = True) -> str:
    """A config to put each text into one (or several) of `choices`."""
    cleaned = [c.strip() for c in choices if c and c.strip()]
    if len(cleaned) < 2 or len(set(cleaned)) != len(cleaned):
        raise InvalidInput("choices: give at least two distinct labels")
    options = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in cleaned)
    mode = "single" if single else "multiple"
    return (f'<View>\n  <Text name="text" value="${field_name}"/>\n'
            f'  <Choices name="label" toName="text" choice="{mode}" showInline="false">\n'
            f"{options}\n  </Choices>\n</View>")
