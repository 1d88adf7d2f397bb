"""Issue 5 §7: random bytes, random YAML and mutated manifests never produce a traceback, an internal error,
or exit 0 with empty output, in `kinject fn` and `kinject inject`.

`KINJECT_FUZZ_EXAMPLES=N` scales the number of examples.
"""

from __future__ import annotations

import inspect

import pytest
import yaml
from hypothesis import given, note
from hypothesis import strategies as st

from strategies import (ANNOTATIONS, HOSTILE_VALUES, assert_no_crash, bundles, dump, dump_all, fuzz_settings,
                        resource_list, run_inproc, tally, write_tally)


@pytest.fixture(autouse=True, scope="module")
def _campaign_figures():
    yield
    write_tally()

YAML_TOKENS = ["- ", ": ", "? ", "---\n", "...\n", "\n", "  ", "[", "]", "{", "}", ",", "&a ", "*a", "!!str ",
               "!!map ", "!!binary ", "<<: ", "|\n", ">-\n", "'", '"', "#", "%YAML 1.1\n", "%TAG ! !x\n", "\t",
               "apiVersion: v1\n", "kind: Pod\n", "kind: Deployment\n", "metadata:\n", "  name: x\n", "spec:\n",
               "template:\n", "containers:\n", "items:\n", "kind: ResourceList\n",
               "apiVersion: config.kubernetes.io/v1\n", "sidecar.istio.io/inject: 'true'\n", "labels:\n",
               "annotations:\n", "\\u0000", "\x85", "\u2028", "\ufeff", "é", "null", "~", "1e9", "0x1F", "true"]

plain_data = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=30,
)


def check(stream: str | bytes) -> None:
    test = next((f.function for f in inspect.stack()[1:4] if f.function.startswith("test_")), "?")
    for args in (["inject", "-"], ["fn"]):
        run = run_inproc(args, stream)
        assert_no_crash(run)
        tally(test, args[0], run)


@given(st.binary(max_size=400))
@fuzz_settings(150)
def test_random_bytes(data: bytes) -> None:
    check(data)


@given(st.lists(st.sampled_from(YAML_TOKENS), max_size=40).map("".join))
@fuzz_settings(200)
def test_random_yaml_token_soup(text: str) -> None:
    note(repr(text))
    check(text)


@given(plain_data, st.sampled_from(["block", "flow", "json"]))
@fuzz_settings(100)
def test_random_yaml_documents(data, style: str) -> None:
    if style == "json":
        import json

        text = json.dumps(data, default=str)
    else:
        text = yaml.safe_dump(data, default_flow_style=(style == "flow"))
    check(text)
    check(dump(resource_list([data])))


@st.composite
def mutated_bundle(draw) -> str:
    objects = draw(bundles())["objects"]
    text = draw(st.sampled_from([dump_all(objects), dump(resource_list(objects))]))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate-line", "indent"]))
        if not text:
            break
        pos = draw(st.integers(0, len(text) - 1))
        if op == "insert":
            text = text[:pos] + draw(st.sampled_from(YAML_TOKENS)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 8)):]
        elif op == "replace":
            text = text[:pos] + draw(st.characters()) + text[pos + 1:]
        elif op == "truncate":
            text = text[:pos]
        elif op == "duplicate-line":
            lines = text.splitlines(True)
            i = draw(st.integers(0, len(lines) - 1))
            text = "".join(lines[: i + 1] + lines[i:])
        else:
            lines = text.splitlines(True)
            i = draw(st.integers(0, len(lines) - 1))
            lines[i] = draw(st.sampled_from([" ", "  ", "- ", "\t"])) + lines[i]
            text = "".join(lines)
    return text


@given(mutated_bundle())
@fuzz_settings(100)
def test_mutated_bundles(text: str) -> None:
    note(text)
    check(text)


@given(bundles(), st.sampled_from(ANNOTATIONS), st.sampled_from(HOSTILE_VALUES[:-1]), st.data())
@fuzz_settings(40)
def test_bundles_with_a_hostile_annotation(bundle: dict, annotation: str, value: str, data) -> None:
    objects = bundle["objects"]
    target = data.draw(st.sampled_from(objects))
    meta = target.get("spec", {}).get("template", {}).get("metadata") if target["kind"] != "Pod" else target[
        "metadata"]
    if isinstance(meta, dict):
        meta.setdefault("annotations", {})[annotation] = value
    check(dump_all(objects))
    check(dump(resource_list(objects)))
