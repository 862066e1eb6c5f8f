"""Label-config templates: the kinds of labeling job our users start from.

Each template builds a Label Studio config from a few options (the options annotators pick from,
the data field names, a heading) and carries a small sample made here, in the register of our
users' work: citizens' letters, judgments, power-line inspection, factory QC, tourism.
`build_config` turns a job definition's `template` (or its own `label_config`) into XML.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from xml.sax.saxutils import quoteattr

from demo import images
from demo.samples import DEPARTMENTS, citizen_questions
from errors import InvalidInput

Options = Mapping[str, Any]
Item = dict[str, str]

MAX_OPTIONS, MAX_OPTION_LENGTH, MAX_HEADER_LENGTH = 200, 100, 300
# Label Studio substitutes `$field` with a pattern of ASCII word characters, so keep names to those.
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Distinct colours for labels, so spans and boxes of different kinds tell apart at a glance.
_PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324",
            "#469990", "#808000")
# Defaults are generic (an API call that omits `header` gets no wording from the sample's domain);
# options and field names default to those the sample uses.
# Pictures chosen for what they show: classification ones hold at most one defect (a single
# answer fits), detection ones include pictures with two defects and one with none.
CLASSIFICATION_SEEDS = (2, 1, 4, 7, 6, 3, 8, 15)
DETECTION_SEEDS = (7, 9, 24, 38, 1, 4, 2, 15)


@dataclass(frozen=True)
class Template:
    key: str
    title: str  # Chinese, then English
    default_options: Mapping[str, Any]
    builder: Callable[[Options], str]
    samples: Callable[[], list[Item]]

    def build(self, options: Options | None = None) -> str:
        """The config for `options` over the defaults; InvalidInput names a bad option."""
        given = dict(options or {})
        unknown = sorted(set(given) - set(self.default_options))
        if unknown:
            raise InvalidInput(f"template.{unknown[0]}: {self.key} has no such option "
                               f"(options: {', '.join(self.default_options)})")
        return self.builder({**self.default_options, **given})

    def sample_items(self) -> list[Item]:
        """A few items to try the template on (fresh copies: callers may change them)."""
        return [dict(item) for item in self.samples()]


def build_config(body: Mapping[str, Any]) -> str:
    """The XML a job definition asks for: `{"template": {"type": key, **options}}` or `{"label_config": xml}`."""
    template, xml = body.get("template"), body.get("label_config")
    if template is not None and xml:
        raise InvalidInput("template: give either a template or a label_config, not both")
    if template is None:
        if not xml:
            raise InvalidInput("label_config: give a label_config, or a template to build one")
        return xml
    if not isinstance(template, Mapping):
        raise InvalidInput('template: an object such as {"type": "text_classification", "choices": [...]}')
    options = dict(template)
    key = options.pop("type", None)
    if key not in TEMPLATES:
        raise InvalidInput(f"template.type: one of {', '.join(TEMPLATES)} (got {key!r})")
    return TEMPLATES[key].build(options)


# --- option checks: each InvalidInput names the option as the API body spells it --------------

def _field(options: Options, name: str) -> str:
    value = options[name]
    if not isinstance(value, str) or not _FIELD_NAME.fullmatch(value):
        raise InvalidInput(f"template.{name}: a data field name of ASCII letters, digits and _, "
                           f"not starting with a digit (got {value!r})")
    return value


def _values(options: Options, name: str, at_least: int) -> list[str]:
    """A list of distinct option texts; blank entries are dropped."""
    raw = options[name]
    if not isinstance(raw, (list, tuple)) or not all(isinstance(v, str) for v in raw):
        raise InvalidInput(f"template.{name}: a list of texts")
    values = [v.strip() for v in raw if v.strip()]
    repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if repeated is not None:
        raise InvalidInput(f"template.{name}: {repeated!r} is given twice")
    if not at_least <= len(values) <= MAX_OPTIONS:
        raise InvalidInput(f"template.{name}: give {at_least} to {MAX_OPTIONS} distinct entries "
                           f"(got {len(values)})")
    too_long = next((v for v in values if len(v) > MAX_OPTION_LENGTH), None)
    if too_long is not None:
        raise InvalidInput(f"template.{name}: {too_long[:20]!r}... is longer than {MAX_OPTION_LENGTH} characters")
    return values


def _flag(options: Options, name: str) -> bool:
    if not isinstance(options[name], bool):
        raise InvalidInput(f"template.{name}: true or false (got {options[name]!r})")
    return options[name]


def _text(options: Options, name: str) -> str:
    value = options[name]
    if not isinstance(value, str) or len(value) > MAX_HEADER_LENGTH:
        raise InvalidInput(f"template.{name}: a text of at most {MAX_HEADER_LENGTH} characters")
    if value.strip().startswith("$"):  # Label Studio would read it as a data field
        raise InvalidInput(f"template.{name}: plain text; a leading $ would name a data field")
    return value.strip()


def _distinct_fields(options: Options, *names: str) -> list[str]:
    fields = [_field(options, name) for name in names if options[name] != ""]
    if len(set(fields)) != len(fields):
        raise InvalidInput(f"template.{names[-1]}: {', '.join(names)} must name different data fields")
    return fields


# --- XML pieces ---------------------------------------------------------------------------------

def _view(header: str, *lines: str) -> str:
    heading = [f"<Header value={quoteattr(header)}/>"] if header else []
    return "<View>\n" + "".join(f"  {line}\n" for line in [*heading, *lines]) + "</View>"


def _options_block(tag: str, attrs: str, option_tag: str, values: list[str], *, coloured: bool) -> list[str]:
    def colour(i: int) -> str:
        return f' background="{_PALETTE[i % len(_PALETTE)]}"' if coloured else ""

    return [f"<{tag} {attrs}>",
            *(f"  <{option_tag} value={quoteattr(v)}{colour(i)}/>" for i, v in enumerate(values)),
            f"</{tag}>"]


def _classification(object_tag: str) -> Callable[[Options], str]:
    """Choices over one Text or Image: single or multi-label classification."""
    name = object_tag.lower()

    def build(options: Options) -> str:
        field, choices = _field(options, "field"), _values(options, "choices", at_least=2)
        mode = "multiple" if _flag(options, "multiple") else "single"
        return _view(_text(options, "header"), f'<{object_tag} name="{name}" value="${field}"/>',
                     *_options_block("Choices", f'name="label" toName="{name}" choice="{mode}" showInline="false"',
                                     "Choice", choices, coloured=False))
    return build


def _spans(options: Options) -> str:
    """Labels on Text: named entities, or any spans of a text."""
    field, labels = _field(options, "field"), _values(options, "labels", at_least=1)
    return _view(_text(options, "header"),
                 *_options_block("Labels", 'name="label" toName="text"', "Label", labels, coloured=True),
                 f'<Text name="text" value="${field}"/>')


def _boxes(options: Options) -> str:
    """RectangleLabels on Image: a box around each thing of interest."""
    field, labels = _field(options, "field"), _values(options, "labels", at_least=1)
    return _view(_text(options, "header"), f'<Image name="image" value="${field}" zoom="true"/>',
                 *_options_block("RectangleLabels", 'name="label" toName="image"', "Label", labels, coloured=True))


def _free_text(options: Options) -> str:
    """A TextArea answering a prompt (a question, an instruction), optionally with a context shown above."""
    fields = _distinct_fields(options, "context_field", "prompt_field")
    context = [f'<Text name="context" value="${fields[0]}"/>'] if len(fields) == 2 else []
    placeholder = _text(options, "placeholder")
    return _view(_text(options, "header"), *context, f'<Text name="prompt" value="${fields[-1]}"/>',
                 '<TextArea name="answer" toName="prompt" rows="6" editable="true" maxSubmissions="1" '
                 f'required="true" placeholder={quoteattr(placeholder)}/>')


def _pairwise(options: Options) -> str:
    """Label Studio's Pairwise control: which of two answers to one prompt is better."""
    prompt, left, right = _distinct_fields(options, "prompt_field", "left_field", "right_field")
    return _view(_text(options, "header"), f'<Text name="prompt" value="${prompt}"/>',
                 '<Pairwise name="preference" toName="left,right"/>',
                 '<View style="display: flex; gap: 1em;">',
                 f'  <View style="flex: 1;"><Text name="left" value="${left}"/></View>',
                 f'  <View style="flex: 1;"><Text name="right" value="${right}"/></View>',
                 "</View>")


# --- samples: invented here, never downloaded ---------------------------------------------------

QC_NOTES = (  # 制造业质检记录 -> 缺陷类型 (several may apply)
    "批次A2307抽检：外壳左侧有两道明显划痕，另有一颗固定螺丝未拧紧。",
    "注塑件壁厚实测2.8毫米，图纸要求3.0±0.1毫米，颜色与封样相比偏黄。",
    "通电测试时指示灯不亮，拆检发现排线插头松脱。",
    "外箱一角被压扁，内包装完好，产品外观无异常。",
    "喷涂面出现橘皮纹，局部颜色深浅不一。",
    "轴承孔径超出上限0.05毫米，装配后转动有卡滞。",
    "按键回弹无力，连续按压二十次后失灵。",
    "铭牌贴歪且边缘有刮伤，运输泡沫碎裂。",
)
JUDGMENT_SNIPPETS = (  # 判决书量刑情节片段 (names are placeholders)
    "被告人张某某作案后主动到公安机关投案，并如实供述自己的罪行，系自首，依法可以从轻处罚。",
    "被告人李某到案后如实供述犯罪事实，系坦白；其自愿认罪认罚，可以依法从宽处理。",
    "被告人王某某曾因盗窃罪被判处有期徒刑一年，刑罚执行完毕后五年内再犯应当判处有期徒刑以上刑罚之罪，系累犯，应当从重处罚。",
    "在共同犯罪中，被告人赵某起次要作用，系从犯，应当从轻处罚。",
    "被告人刘某某已赔偿被害人经济损失人民币三万元，并取得被害人谅解，可以酌情从轻处罚。",
    "被告人陈某犯罪时已满十六周岁不满十八周岁，系未成年人，依法应当从轻或者减轻处罚。",
    "被告人周某某系初犯、偶犯，归案后认罪态度较好，可以酌情从轻处罚。",
    "被告人孙某在审查起诉阶段签署认罪认罚具结书，且积极退赃，依法可以从宽处理。",
)
CITIZEN_QUESTIONS = (  # 政务咨询: annotators write the reply
    "我是外地户籍，在本市缴纳社保满一年，孩子能在这里上公办小学吗？需要准备哪些材料？",
    "个体工商户营业执照丢了，补办需要去哪里办理？可以网上办吗？",
    "退休人员异地就医备案怎么办理？备案后报销比例会不会降低？",
    "住房公积金能用来付房租吗？每个月最多能提取多少？",
    "家里老人满八十周岁了，高龄津贴怎么申请？",
    "小区旁边的空地一直堆放建筑垃圾，应该向哪个部门反映？",
    "灵活就业人员怎样参加城乡居民医疗保险？缴费标准是多少？",
    "新办的餐饮店需要办理哪些许可证？办理时限是多久？",
)
TOURISM_PAIRS = (  # 游客咨询, two candidate answers; the better one is not always first
    ("第一次去黄果树瀑布，一天怎么安排比较合理？",
     "建议早上入园，先看大瀑布，再乘观光车去天星桥和陡坡塘，下午避开人流高峰返回；景区步行较多，穿防滑的鞋。",
     "黄果树瀑布很有名，值得一去，去了就知道了。"),
    ("带老人去西江千户苗寨，住在寨子里方便吗？",
     "寨子里有很多客栈，随便住哪一家都可以。",
     "寨内客栈多建在山坡上，台阶多，老人行走不便；建议住在景区入口或观光车站点附近，晚上乘车去观景台看夜景。"),
    ("国庆节去梵净山需要提前预约吗？",
     "节假日一般实行实名预约和限流，请提前在官方渠道预约门票和索道，并留意天气，雨雾天部分景点可能临时关闭。",
     "不需要预约，到了现场买票就行。"),
    ("荔波小七孔景区的门票包含观光车吗？",
     "包含。",
     "门票和观光车通常分开购买，以景区公告为准；园区较大，建议购票时一并购买观光车票。"),
    ("在贵阳晚上有什么适合逛的地方？",
     "可以去甲秀楼一带看夜景，附近小吃多；想体验本地生活，可以去夜市尝尝丝娃娃和烙锅。",
     "晚上可以在酒店休息，第二天再出去玩。"),
    ("自驾去遵义会议会址，停车方便吗？",
     "遵义停车非常方便，到处都能停。",
     "会址周边车位紧张，建议停在附近的公共停车场后步行前往，节假日尽量早到。"),
)


def _pictures(seeds: tuple[int, ...]) -> Callable[[], list[Item]]:
    return lambda: [{"image": images.sample_url(seed)} for seed in seeds]


def _texts(field: str, texts: tuple[str, ...]) -> Callable[[], list[Item]]:
    return lambda: [{field: text} for text in texts]


def _template(key: str, title: str, builder: Callable[[Options], str],
              samples: Callable[[], list[Item]], **defaults: Any) -> Template:
    return Template(key, title, MappingProxyType(defaults), builder, samples)


_TEMPLATES = (
    _template("text_classification", "文本分类 Text classification", _classification("Text"),
              lambda: [{"text": row["text"]} for row in citizen_questions(8, seed=11)],
              choices=tuple(DEPARTMENTS), field="text", multiple=False, header="请选择最合适的类别"),
    _template("multi_label", "多标签文本分类 Multi-label text classification", _classification("Text"),
              _texts("text", QC_NOTES),
              choices=("外观划痕", "尺寸超差", "装配松动", "色差", "功能异常", "包装破损"), field="text",
              multiple=True, header="请选择所有适用的类别（可多选）"),
    _template("ner", "命名实体 / 片段标注 Named entities & spans", _spans, _texts("text", JUDGMENT_SNIPPETS),
              labels=("自首", "坦白", "累犯", "从犯", "认罪认罚", "赔偿谅解", "未成年人", "初犯偶犯"),
              field="text", header="请划出文本中的相关片段，并选择类别"),
    _template("image_classification", "图像分类 Image classification", _classification("Image"),
              _pictures(CLASSIFICATION_SEEDS), choices=("正常", *images.DEFECTS), field="image",
              multiple=False, header="请选择最符合这张图片的类别"),
    _template("bbox", "图像目标框 Image bounding boxes", _boxes, _pictures(DETECTION_SEEDS),
              labels=images.DEFECTS, field="image", header="请框出图中的每一处目标，并选择类别"),
    _template("free_text", "问答 / 指令撰写 Question answering & instruction pairs", _free_text,
              _texts("question", CITIZEN_QUESTIONS), prompt_field="question", context_field="",
              header="请阅读问题，撰写准确、规范的回答", placeholder="在此撰写回答……"),
    _template("pairwise", "两两比较 Pairwise comparison", _pairwise,
              lambda: [{"prompt": p, "answer_a": a, "answer_b": b} for p, a, b in TOURISM_PAIRS],
              prompt_field="prompt", left_field="answer_a", right_field="answer_b",
              header="哪个回答更好地回应了问题？"),
)
TEMPLATES: dict[str, Template] = {template.key: template for template in _TEMPLATES}
