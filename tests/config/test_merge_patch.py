"""``core.wire.merge_patch`` (shared by the hub's PATCH and the SDK) against RFC 7396, Appendix A."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from centralhub.core.wire import merge_patch

#: every example of RFC 7396 Appendix A, as (original, patch, result) in JSON text
RFC7396_EXAMPLES = [
    ('{"a":"b"}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"b"}', '{"b":"c"}', '{"a":"b","b":"c"}'),
    ('{"a":"b"}', '{"a":null}', "{}"),
    ('{"a":"b","b":"c"}', '{"a":null}', '{"b":"c"}'),
    ('{"a":["b"]}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"c"}', '{"a":["b"]}', '{"a":["b"]}'),
    ('{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}', '{"a":{"b":"d"}}'),
    ('{"a":[{"b":"c"}]}', '{"a":[1]}', '{"a":[1]}'),
    ('["a","b"]', '["c","d"]', '["c","d"]'),
    ('{"a":"b"}', '["c"]', '["c"]'),
    ('{"a":"foo"}', "null", "null"),
    ('{"a":"foo"}', '"bar"', '"bar"'),
    ('{"e":null}', '{"a":1}', '{"e":null,"a":1}'),
    ("[1,2]", '{"a":"b","c":null}', '{"a":"b"}'),
    ("{}", '{"a":{"bb":{"ccc":null}}}', '{"a":{"bb":{}}}'),
]


def test_every_appendix_example_is_listed() -> None:
    assert len(RFC7396_EXAMPLES) == 15


@pytest.mark.parametrize(("original", "patch", "result"), RFC7396_EXAMPLES)
def test_rfc7396_appendix_a(original: str, patch: str, result: str) -> None:
    target: Any = json.loads(original)
    before = copy.deepcopy(target)
    assert merge_patch(target, json.loads(patch)) == json.loads(result)
    assert target == before  # the stored document is never changed in place


def test_the_result_shares_nothing_with_the_patch() -> None:
    patch = {"a": {"list": [1, 2]}}
    out = merge_patch({}, patch)
    out["a"]["list"].append(3)
    assert patch == {"a": {"list": [1, 2]}}
