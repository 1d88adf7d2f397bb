"""The surgical YAML editor: output parses to the new data, and everything not edited stays byte for byte."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinject.yamltext import TextEditor, compose_all, to_data

DOC = """\
# top comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # the name
spec:
  template:
    metadata: {}
    spec:
      # containers below
      containers:
        - name: app # app container
          image: nginx
          args: ["--port", "80"]
          env:
          - name: A
            value: |
              line one
              line two
          - name: B
            value: b
      volumes:
      - name: data
        emptyDir: {}
"""


def edit(text: str, mutate) -> tuple[str, object]:
    node = compose_all(text)[0]
    old = to_data(node)
    new = copy.deepcopy(old)
    mutate(new)
    editor = TextEditor(text)
    editor.edit_node(node, old, new)
    return editor.apply(), new


def test_no_change_is_byte_identical():
    out, _ = edit(DOC, lambda d: None)
    assert out == DOC


def test_insertions_keep_comments_and_order():
    def mutate(d):
        pod = d["spec"]["template"]
        pod["metadata"] = {"labels": {"app": "web"}}
        pod["spec"]["initContainers"] = [{"name": "istio-init", "image": "proxyv2"}]
        pod["spec"]["containers"][0]["env"].append({"name": "C", "value": "c"})
        pod["spec"]["volumes"].insert(0, {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}})

    out, new = edit(DOC, mutate)
    assert yaml.safe_load(out) == new
    for comment in ("# top comment", "# the name", "# containers below", "# app container"):
        assert comment in out
    assert out.index("istio-envoy") < out.index("name: data")
    assert 'args: ["--port", "80"]' in out  # untouched flow list kept as written


def test_value_changes_and_deletions():
    def mutate(d):
        c = d["spec"]["template"]["spec"]["containers"][0]
        c["image"] = "nginx:2"
        c["env"] = [e for e in c["env"] if e["name"] != "A"]
        c["args"] = ["--port", "8080"]

    out, new = edit(DOC, mutate)
    assert yaml.safe_load(out) == new
    assert "line one" not in out and "# app container" in out


def test_values_that_look_like_yaml_stay_strings():
    hostile = "a: b\n- c\n{{ x }} {% y %} # not a comment\n---\n"

    def mutate(d):
        d["spec"]["template"]["metadata"] = {"annotations": {"x": hostile, "y": "'\""}}

    out, new = edit(DOC, mutate)
    docs = list(yaml.safe_load_all(out))
    assert len(docs) == 1 and docs[0] == new


def test_reordered_list_is_replaced_not_corrupted():
    def mutate(d):
        env = d["spec"]["template"]["spec"]["containers"][0]["env"]
        env.reverse()

    out, new = edit(DOC, mutate)
    assert yaml.safe_load(out) == new


# ------------------------------------------------------------------------- property: any edit round-trips

keys = st.sampled_from(["name", "image", "args", "env", "value", "labels", "a", "b", "port", "items"])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 100000), st.text(max_size=12),
    st.sampled_from(["", "0", "true", "null", "- x", "a: b", "#c", "15001", "*", "&a", "{}", "[]", "x\ny"]),
)
data = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4),
        st.lists(st.fixed_dictionaries({"name": st.text("abcxyz", min_size=1, max_size=3)}, optional={"v": inner}),
                 max_size=4, unique_by=lambda x: x["name"]),
    ),
    max_leaves=25,
)
documents = st.dictionaries(keys, data, min_size=1, max_size=5)


def _dump(doc, flow: bool, indent_seq: bool) -> str:
    class D(yaml.SafeDumper):
        def increase_indent(self, flow=False, indentless=False):  # "wide" sequences when asked
            return super().increase_indent(flow, False if indent_seq else indentless)

    text = yaml.dump(doc, Dumper=D, default_flow_style=None if flow else False, sort_keys=False)
    lines = text.splitlines(True)
    # sprinkle comments on their own lines at the indentation of the next line
    out = []
    for i, line in enumerate(lines):
        if i % 3 == 0 and line.strip() and not line.lstrip().startswith(("-", "|", ">")):
            pad = len(line) - len(line.lstrip())
            out.append(" " * pad + "# c\n")
        out.append(line)
    return "".join(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=documents, new=documents, flow=st.booleans(), wide=st.booleans())
def test_any_edit_parses_to_the_new_data(old, new, flow, wide):
    text = _dump(old, flow, wide)
    try:
        if yaml.safe_load(text) != old:
            return  # the generator's own comment sprinkling broke this document; not the editor's concern
    except yaml.YAMLError:
        return
    node = compose_all(text)[0]
    editor = TextEditor(text)
    try:
        editor.edit_node(node, to_data(node), new)
    except Exception as exc:  # the top-level node itself may need replacing: the callers handle that
        assert type(exc).__name__ == "_CannotEdit"
        return
    out = editor.apply()
    assert yaml.safe_load(out) == new


@settings(max_examples=200, deadline=None)
@given(doc=documents, extra=documents)
def test_adding_keys_keeps_the_old_text_as_a_prefix_of_each_line(doc, extra):
    text = _dump(doc, False, False)
    if yaml.safe_load(text) != doc:
        return  # comment sprinkling landed inside a multi-line scalar
    new = {**doc, **{f"new-{k}": v for k, v in extra.items()}}
    node = compose_all(text)[0]
    editor = TextEditor(text)
    editor.edit_node(node, to_data(node), new)
    out = editor.apply()
    assert out.startswith(text.rstrip("\n"))
    assert yaml.safe_load(out) == new


def test_large_edits_held_compressed_come_back_exactly() -> None:
    """Large new texts are kept compressed against the first one (a zlib dictionary) until written: the
    output must be exactly the texts given, also after the first (the dictionary) is rolled back."""
    import random

    rng = random.Random(1)
    base = "".join(f"  - name: env{i}\n    value: '{i}'\n" for i in range(120))  # ~3.5 KB, like a sidecar
    text = "".join(f"item{i}: x\n" for i in range(50))
    editor = TextEditor(text)
    inserts = []
    for i in range(50):
        pos = editor.line_end(text.index(f"item{i}:"))
        new = f"# block {i}\n" + base.replace("env1", f"e{rng.randint(0, 99)}") + ("é" * i) + "\n"
        editor.add(pos, pos, new)
        inserts.append((pos, new))
    del editor.edits[:1]  # roll back the edit that primed the compressor
    del inserts[:1]
    assert any(isinstance(e[3], bytes) for e in editor.edits)  # they really are held compressed
    expected, last = [], 0
    for pos, new in inserts:
        expected += [text[last:pos], new]
        last = pos
    expected.append(text[last:])
    assert editor.apply() == "".join(expected)
