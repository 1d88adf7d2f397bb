"""The emitter: every value reads back as itself in YAML 1.1 (PyYAML) and YAML 1.2 (ruamel, like Go's yaml.v3)."""

from __future__ import annotations

import io

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from kinject import emit

yaml12 = YAML(typ="safe", pure=True)


def both(text: str):
    return yaml.safe_load(text), yaml12.load(io.StringIO(text))


TRICKY = [
    "", " ", "a ", " a", "true", "True", "yes", "on", "off", "y", "n", "null", "~", "Null", "0", "00", "0o17",
    "0x1F", "1e3", "1_000", ".5", "-.inf", ".NaN", "12:30", "2024-01-01", "2024-01-01T00:00:00Z", "-", "- a",
    "a: b", "a:b", "a:", "#c", "a #c", "a# c", "&x", "*x", "!tag", "|", ">", "%x", "@x", "`x", "'", '"', "\\",
    "{}", "[]", "{a: b}", "[a]", ",", "?", "? a", "---", "...", "a\nb", "a\n", "\n", "\t", "\r\n", "x\x00y",
    "\x7f", "\x85", "\u2028", "a\u2029b", "\ufeff", "é", "😀", "{{ x }}", "{% y %}", "$(POD_NAMESPACE).svc.cluster.local", "--", "----x", "--- a", "-- a", "---x",
    "15090,15021,15020", "kubernetes://apis/apps/v1/namespaces/a/deployments/b", "=", "a=b", "+1", "-1", "1.",
]


@pytest.mark.parametrize("value", TRICKY)
def test_tricky_strings_round_trip(value):
    text = emit.block({"k": value, "list": [value]})
    assert both(text) == ({"k": value, "list": [value]},) * 2


def test_plain_where_it_is_safe():
    assert emit.string("istio-proxy") == "istio-proxy"
    assert emit.string("15001") == "'15001'"
    assert emit.string("*") == "'*'"
    assert emit.string("0o17") == "'0o17'"  # an int in YAML 1.2


def test_block_layout():
    value = {"a": {"b": [1, {"c": "d", "e": []}], "f": {}}, "g": [[1, 2], "x"]}
    text = emit.block(value, 4)
    assert text.startswith("    a:\n      b:\n      - 1\n      - c: d\n        e: []\n")
    assert both(text) == (value, value)


json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(value=json_like, indent=st.integers(0, 6))
def test_any_data_round_trips(value, indent):
    text = emit.block({"root": value}, indent)
    assert both(text) == ({"root": value},) * 2
