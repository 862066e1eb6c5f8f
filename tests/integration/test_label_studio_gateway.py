"""The gateway against a real Label Studio server: what we rely on really holds."""
from __future__ import annotations

import secrets

import pytest

from labelstudio.gateway import (Gateway, LabelStudioAuthError, LabelStudioRejected,
                                 LabelStudioUnavailable)
from projects.label_config import text_classification

pytestmark = pytest.mark.integration
CONFIG = text_classification(["交通运输", "教育"])


def test_project_tasks_and_attributed_annotations(gateway):
    key = f"{secrets.token_hex(16)}:7"
    project = gateway.create_project(key, "网关测试", CONFIG, 2)
    assert gateway.find_project(key) == project
    assert gateway.find_project(f"{secrets.token_hex(16)}:7") is None  # another installation's job 7
    mapping = gateway.import_tasks(project, [(1, {"text": "路灯坏了"}), (2, {"text": "学区划分"})])
    assert set(mapping) == {1, 2} and gateway.existing_tasks(project) == mapping
    assert gateway.task_count(project) == 2
    email = f"it-{secrets.token_hex(4)}@it.test"
    user_id = gateway.ensure_user(email, email.split("@")[0], "标注员")
    assert gateway.ensure_user(email, "again", "x") == user_id  # found, not created twice
    result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["教育"]}}]
    assert gateway.find_annotation(mapping[2], 4242) is None
    ann = gateway.create_annotation(mapping[2], 4242, result, user_id, 7.5)
    assert gateway.find_annotation(mapping[2], 4242) == ann
    (stored,) = gateway.list_annotations(mapping[2])
    assert stored["completed_by"] == user_id and stored["result"][0]["value"]["choices"] == ["教育"]


def test_unreachable_server_is_a_clear_503():
    with Gateway("http://127.0.0.1:9", "x" * 40, timeout=2) as gateway, \
            pytest.raises(LabelStudioUnavailable) as err:
        gateway.check()
    assert err.value.status == 503 and "unreachable" in err.value.message and "127.0.0.1:9" in err.value.message


def test_wrong_token_is_reported_as_such(ls_settings):
    with Gateway(ls_settings[0], "0" * 40) as gateway, pytest.raises(LabelStudioAuthError) as err:
        gateway.check()
    assert "refused our API token" in err.value.message


def test_bad_config_is_rejected_with_the_reason(gateway):
    with pytest.raises(LabelStudioRejected) as err:
        gateway.create_project("bad:1", "坏配置", "<View><Text name='t' value='$text'/>"
                               "<Choices name='c' toName='nowhere'><Choice value='a'/></Choices></View>", 1)
    assert err.value.status == 422
