"""Sample data made here, never downloaded: citizens' questions to route to government departments.

Deterministic for a seed, so the demo and the tests see the same items. Each question comes from
a department's phrase bank with a place and a detail, which keeps items distinct.
"""
from __future__ import annotations

import csv
import io
import random

DEPARTMENTS: dict[str, list[str]] = {
    "交通运输": ["{place}的公交车班次太少，早高峰经常等不到车，能否增加班次？",
             "{place}路口的红绿灯{detail}，过马路很危险，请尽快处理。",
             "{place}附近的道路{detail}，车辆通行困难，什么时候能修好？"],
    "教育": ["孩子明年上小学，{place}的学区是怎么划分的？",
           "{place}的幼儿园收费{detail}，是否符合规定？",
           "{place}学校的校车{detail}，家长很担心安全问题。"],
    "卫生健康": ["{place}社区卫生服务中心的疫苗{detail}，什么时候能预约？",
             "{place}的医院挂号{detail}，老人不会用手机怎么办？",
             "{place}的诊所{detail}，请卫生部门检查。"],
    "住房城建": ["{place}小区的电梯{detail}，物业一直不处理。",
             "{place}的老旧小区改造{detail}，居民想了解进度。",
             "{place}的工地夜间施工{detail}，影响休息。"],
    "生态环境": ["{place}的河道{detail}，有异味，请环保部门查看。",
             "{place}的工厂排放烟尘{detail}，附近居民很不舒服。",
             "{place}的垃圾分类{detail}，垃圾桶经常满溢。"],
}
PLACES = ["观山湖区", "南明区", "云岩区", "花溪区", "乌当区", "白云区", "清镇市", "修文县",
          "开阳县", "息烽县", "遵义市汇川区", "安顺市西秀区", "六盘水市钟山区", "凯里市", "都匀市"]
DETAILS = ["已经坏了一个多月", "最近经常出问题", "情况越来越严重", "反映多次没有回复",
           "存在安全隐患", "影响了很多人", "从上周开始就这样", "周末尤其明显"]


def citizen_questions(n: int, seed: int = 7) -> list[dict[str, str]]:
    """`n` distinct questions with their true department (the answer key, for simulations)."""
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < n:
        dept = rng.choice(list(DEPARTMENTS))
        text = rng.choice(DEPARTMENTS[dept]).format(place=rng.choice(PLACES), detail=rng.choice(DETAILS))
        text = f"{text}（编号{len(rows) + 1:05d}）"
        if text not in seen:
            seen.add(text)
            rows.append({"text": text, "department": dept})
    return rows


def questions_csv(n: int, seed: int = 7, encoding: str = "utf-8") -> bytes:
    """The questions as a CSV upload (column `text`; no answer column)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["text"])
    for row in citizen_questions(n, seed):
        writer.writerow([row["text"]])
    return buffer.getvalue().encode(encoding)
