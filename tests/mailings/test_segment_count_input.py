"""The segment editor's live count reads its JSON within limits: whatever the browser (or a
mistyped definition) sends, the answer is a count or a 400 with a message, never a 500."""

import json

import pytest

from tests.support.factories import make_list

pytestmark = pytest.mark.django_db

URL = "/admin/mailings/segment/count/"
NEWS = json.dumps({"condition": "subscribed_to_list", "list": "news"})


@pytest.mark.parametrize("body", [
    "[]", "3", '"x"', "null",
    json.dumps({"definition": "[" * 5000 + "]" * 5000}),
    json.dumps({"definition": '{"all": ' + "[" * 100 + "]" * 100 + "}"}),
    '{"definition": ' + "[" * 5000 + "]" * 5000 + "}",
    json.dumps({"definition": NEWS, "organisation": "abc", "list": "²"}),
    json.dumps({"definition": NEWS, "organisation": 10**30, "list": -1}),
    json.dumps({"definition": NEWS, "organisation": [1], "list": {"a": 1}}),
    json.dumps({"definition": [1, 2]}), json.dumps({"definition": 7}), json.dumps({"definition": "\ud800"}),
])
def test_any_body_is_a_count_or_a_400(admin_client, body):
    make_list(slug="news")
    response = admin_client.post(URL, data=body, content_type="application/json")
    assert response.status_code in (200, 400), response.status_code
    assert response.json()
