"""Label configs: the Label Studio XML that says what annotators see and answer.

`parse` checks a config strictly before it reaches Label Studio, which stores much that its editor
then cannot show, and names each problem with its line. `check_data_fields` checks that data items
carry the fields a config shows. The configs users start from are built in projects/templates.py.

The XML is read with expat directly (ElementTree keeps no line numbers), refusing any DTD, so
entity expansion ("billion laughs") and external entities cannot happen.
"""
from __future__ import annotations

import difflib
import functools
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, NoReturn
from xml.parsers import expat

from errors import InvalidInput

TaskType = Literal["text_classification", "multi_label", "ner", "image_classification", "bbox",
                   "free_text", "pairwise", "other"]
TagKind = Literal["object", "control", "option", "layout"]

# Tags that arrange or decorate the page, or configure an object or control from inside it.
# label-studio-sdk's tag tables hold only objects, controls and options, so these come from
# Label Studio's tag reference (labelstud.io/tags).
LAYOUT_TAGS = frozenset({"View", "Header", "Style", "Filter", "Collapse", "Panel", "Channel", "Shortcut"})
# Relations only lists the kinds of relation any two regions may have: no name, no target.
# ChatMessage and ReactCode label themselves, so they need a name but no toName.
_FREE_CONTROLS = frozenset({"Relations"})
_SELF_LABELLING = frozenset({"ChatMessage", "ReactCode"})
_TEXT_OBJECTS = frozenset({"Text", "HyperText"})


@dataclass(frozen=True)
class Control:
    tag: str
    name: str
    to_name: str  # as written: Pairwise names two objects, "left,right"
    choices: tuple[str, ...] = ()  # option values in order (an option's alias where set: results carry it)
    multiple: bool = False  # choice="multiple": several options per answer
    line: int = 0

    @property
    def to_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.to_name.split(",") if name.strip())


@dataclass(frozen=True)
class DataObject:
    """An object tag: shows the task data field `data_field` to annotators."""
    tag: str
    name: str
    data_field: str
    line: int = 0


@dataclass(frozen=True)
class LabelConfig:
    xml: str
    data_fields: frozenset[str]  # the `$field` names tasks must carry
    controls: tuple[Control, ...] = field(default=())
    objects: tuple[DataObject, ...] = field(default=())

    @property
    def classification(self) -> Control | None:
        """The first Choices control, which classification QA reads."""
        return next((c for c in self.controls if c.tag == "Choices"), None)

    @property
    def task_type(self) -> TaskType:
        """What kind of job this is, from its controls and the objects they label."""
        return _task_type(self)


@dataclass(eq=False)
class _Element:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[_Element] = field(default_factory=list)

    def describe(self) -> str:
        name = self.attrs.get("name")
        return f"<{self.tag} name={name!r}>" if name else f"<{self.tag}>"


@functools.lru_cache(maxsize=256)
def parse(xml: str) -> LabelConfig:
    """Parse and check a config; InvalidInput names the problem and its line. Cached: every
    submission checks its result against its job's (unchanging, frozen) config."""
    elements = _read(xml)
    if elements[0].tag != "View":
        _fail(elements[0], f"the root element must be <View>, not <{elements[0].tag}>")
    kinds = known_tags()
    for element in elements:
        if element.tag not in kinds:
            _fail(element, _unknown_tag(element.tag, kinds))
    _check_unique_names(elements)
    objects = [_data_object(e) for e in elements if kinds[e.tag] == "object"]
    controls = [_control(e, kinds) for e in elements
                if kinds[e.tag] == "control" and e.tag not in _FREE_CONTROLS]
    if not objects:
        raise InvalidInput("label_config: no object tag (Text, Image, ...) shows data to annotators")
    if not controls:
        raise InvalidInput("label_config: no control tag (Choices, Labels, ...) takes an answer")
    _check_targets(elements, objects, controls)
    return LabelConfig(xml=xml, data_fields=frozenset(_data_fields(elements, kinds)),
                       controls=tuple(controls), objects=tuple(objects))


def check_data_fields(config: LabelConfig, fields: Collection[str], *, where: str) -> None:
    """InvalidInput, prefixed by `where`, unless the data has every field the config shows."""
    missing = sorted(config.data_fields.difference(fields))
    if missing:
        uses = ", ".join(f"${name}" for name in missing)
        names = ", ".join(repr(name) for name in missing)
        have = ", ".join(sorted(fields)) or "none"
        raise InvalidInput(f"{where}: the label config uses {uses}, but the data has no field {names} "
                           f"(fields: {have})")


@functools.cache
def known_tags() -> Mapping[str, TagKind]:
    """Every tag a config may use, by kind: label-studio-sdk's own tables plus the layout tags."""
    # Imported on first use: the SDK is large (~1 s), and most imports of this module never parse.
    from label_studio_sdk.label_interface import control_tags, label_tags, object_tags

    def tag_names(module) -> set[str]:  # the tables key lower-case names to classes named *Tag
        return {getattr(module, cls).model_fields["tag"].default for cls in module._TAG_TO_CLASS.values()}

    kinds: dict[str, TagKind] = {tag: "layout" for tag in LAYOUT_TAGS}
    kinds.update({tag: "option" for tag in label_tags._LABEL_TAGS})
    kinds.update({tag: "object" for tag in tag_names(object_tags)})
    kinds.update({tag: "control" for tag in tag_names(control_tags)})
    return MappingProxyType(kinds)


def text_classification(choices: list[str], field_name: str = "text", single: bool = True) -> str:
    """A config to put each text into one (or several) of `choices`: the text_classification template."""
    from projects.templates import TEMPLATES  # imported here: templates build on this module

    return TEMPLATES["text_classification"].build({"choices": choices, "field": field_name,
                                                   "multiple": not single})


def _read(xml: str) -> list[_Element]:
    """The elements in document order, each with its line and children."""
    if not isinstance(xml, str):
        raise InvalidInput("label_config: the config must be XML text")
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    elements: list[_Element] = []
    open_elements: list[_Element] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        element = _Element(tag, attrs, parser.CurrentLineNumber)
        if open_elements:
            open_elements[-1].children.append(element)
        elements.append(element)
        open_elements.append(element)

    def refuse_dtd(*_: object) -> None:  # without a DTD no entity can be declared, so none can expand
        raise InvalidInput(f"label_config, line {parser.CurrentLineNumber}: forbidden XML construct "
                           "(a DOCTYPE; Label Studio configs need none)")

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda _tag: open_elements.pop()
    parser.StartDoctypeDeclHandler = refuse_dtd
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as err:
        raise InvalidInput(f"label_config: malformed XML at line {err.lineno}, column {err.offset + 1} "
                           f"({expat.ErrorString(err.code)})") from None
    return elements


def _fail(where: _Element | int, message: str) -> NoReturn:
    line = where if isinstance(where, int) else where.line
    raise InvalidInput(f"label_config, line {line}: {message}")


def _unknown_tag(tag: str, kinds: Mapping[str, TagKind]) -> str:
    by_case = {known.lower(): known for known in kinds}
    guess = by_case.get(tag.lower()) or next(iter(difflib.get_close_matches(tag, kinds, n=1)), None)
    hint = f" (did you mean <{guess}>?)" if guess else " (see labelstud.io/tags for the tags it knows)"
    return f"unknown tag <{tag}>: Label Studio has no such tag{hint}"


def _check_unique_names(elements: list[_Element]) -> None:
    first: dict[str, _Element] = {}
    for element in elements:
        name = element.attrs.get("name")
        if name is None:
            continue
        if name in first:
            _fail(element, f"name {name!r} is already used by <{first[name].tag}> on line {first[name].line}; "
                           "names must be unique")
        first[name] = element


def _data_object(element: _Element) -> DataObject:
    name = element.attrs.get("name", "").strip()
    value = element.attrs.get("value") or element.attrs.get("valueList") or ""
    if not name:
        _fail(element, f'<{element.tag}> needs name="..." so controls can point at it')
    if not value.startswith("$") or not value[1:].strip():
        _fail(element, f'{element.describe()} needs value="$field" naming the data field it shows '
                       f"(got {value!r})")
    return DataObject(element.tag, name, value[1:], element.line)


def _control(element: _Element, kinds: Mapping[str, TagKind]) -> Control:
    name, to_name = element.attrs.get("name", "").strip(), element.attrs.get("toName", "").strip()
    if not name:
        _fail(element, f'<{element.tag}> needs name="..." (its answers are stored under that name)')
    if not to_name and element.tag not in _SELF_LABELLING:
        _fail(element, f'{element.describe()} needs toName="..." naming the object tag it labels')
    options = _options(element, kinds)
    dynamic = element.attrs.get("value", "").startswith("$")  # options read from each task's data
    if _takes_options(element.tag) and not options and not dynamic:
        _fail(element, f"{element.describe()} has no options: add <{_option_tag(element.tag)} value=\"...\"/> "
                       "children")
    return Control(element.tag, name, to_name, _option_values(element, options),
                   multiple=element.attrs.get("choice") == "multiple", line=element.line)


def _takes_options(tag: str) -> bool:
    return tag in ("Choices", "Taxonomy") or tag.endswith("Labels")


def _option_tag(tag: str) -> str:
    return "Label" if tag.endswith("Labels") else "Choice"


def _options(control: _Element, kinds: Mapping[str, TagKind]) -> list[_Element]:
    """The option tags inside `control`, at any depth, but not those of a control nested in it."""
    found, pending = [], list(reversed(control.children))
    while pending:
        element = pending.pop()
        if kinds.get(element.tag) == "option":
            found.append(element)
        if kinds.get(element.tag) != "control":
            pending.extend(reversed(element.children))
    return found


def _option_values(control: _Element, options: list[_Element]) -> tuple[str, ...]:
    values: list[str] = []
    first_line: dict[str, int] = {}
    for option in options:
        value = option.attrs.get("alias") or option.attrs.get("value") or ""
        if not value.strip():
            _fail(option, f'<{option.tag}> in {control.describe()} needs a non-empty value="..."')
        # Taxonomy nests options in a tree, where the same value may recur under other branches.
        if value in first_line and control.tag != "Taxonomy":
            _fail(option, f"{control.describe()} repeats the option {value!r} (first on line {first_line[value]})")
        first_line.setdefault(value, option.line)
        values.append(value)
    return tuple(values)


def _check_targets(elements: list[_Element], objects: list[DataObject], controls: list[Control]) -> None:
    object_names = {o.name for o in objects}
    for control in controls:
        for target in control.to_names:
            if target not in object_names:
                _fail(control.line, f"<{control.tag} name={control.name!r}> points toName={target!r}, which "
                                    f"names no object tag (objects: {', '.join(sorted(object_names))})")
        if control.tag == "Pairwise" and len(control.to_names) != 2:
            _fail(control.line, f"<Pairwise name={control.name!r}> compares exactly two objects: "
                                f'toName="first,second" (got {control.to_name!r})')
    control_names = {c.name for c in controls}
    for element in elements:  # a Filter searches the options of a control
        target = element.attrs.get("toName", "")
        if element.tag == "Filter" and target and target not in control_names:
            _fail(element, f"<Filter> points toName={target!r}, which names no control tag")


def _data_fields(elements: list[_Element], kinds: Mapping[str, TagKind]) -> Iterator[str]:
    """The fields tasks must carry: what objects show, dynamic options, and data-driven headers."""
    for element in elements:
        kind = kinds[element.tag]
        value = element.attrs.get("value") or ""
        if kind == "object":
            value = value or element.attrs.get("valueList") or ""
        elif not (kind == "control" or element.tag == "Header"):
            continue
        if value.startswith("$") and value[1:].strip():
            yield value[1:]


def _task_type(config: LabelConfig) -> TaskType:
    """The first match, in this order: a comparison, boxes, spans, then choices, then free text."""
    object_tag = {o.name: o.tag for o in config.objects}
    labelled = {(c.tag, object_tag.get(target)) for c in config.controls for target in c.to_names}
    tags = {c.tag for c in config.controls}
    if "Pairwise" in tags:
        return "pairwise"
    if labelled & {("RectangleLabels", "Image"), ("Rectangle", "Image")}:
        return "bbox"
    if labelled & {("Labels", "Text"), ("Labels", "HyperText"), ("HyperTextLabels", "HyperText")}:
        return "ner"
    if ("Choices", "Image") in labelled:
        return "image_classification"
    on_text = [c for c in config.controls if c.tag == "Choices"
               and any(object_tag.get(target) in _TEXT_OBJECTS for target in c.to_names)]
    if on_text:
        return "multi_label" if on_text[0].multiple else "text_classification"
    return "free_text" if "TextArea" in tags else "other"
