"""Issue 5 §1: annotation and label values are data.

Every annotation the templates and the injector read (reference §2.4), every label they read, and the
object's own name and namespace, get each hostile value (newlines, quotes, `: `, `- `, braces, `{{ }}`,
`{% %}`, `#`, document markers, NUL/control characters, 100 kB), through `kinject fn` and `kinject inject`.
Whatever the outcome (injected, skipped, or a validation error), the output parses, keeps exactly the input's
documents and objects, gains no container, key or document from the value, and wherever the value appears
it appears whole, as one string (raw, or JSON-escaped inside a JSON string such as the status annotation).
"""

from __future__ import annotations

import json

import pytest
import yaml

from strategies import (ANNOTATIONS, FUZZ_EXAMPLES, HOSTILE_VALUES, LABELS, MARK, deployment, dump, dump_all, load, load_all, namespace,
                        resource_list, run_inproc, sidecar_injector, walk)

# The default run gives each annotation/label the core values plus a rotating share of the others (each value
# is still tried against many keys); KINJECT_FUZZ_EXAMPLES (any value) runs the whole matrix.
CORE = [0, 1, 8, 14, 17]


def matrix(keys: list[str]) -> list:
    cases = []
    for k, key in enumerate(keys):
        for i, value in enumerate(HOSTILE_VALUES):
            if FUZZ_EXAMPLES or i in CORE or (i + k) % 10 == 0:
                cases.append(pytest.param(key, value, id=f"{key}-v{i}:{value[:12]!r}"))
    return cases


INJECTED_CONTAINERS = {"app", "istio-proxy", "istio-init", "istio-validation"}


def _value_ids(values):
    return [f"v{i}:{v[:12]!r}" for i, v in enumerate(values)]


def _forms(value: str) -> list[str]:
    """How a value may legitimately appear inside an output string: raw, or JSON-encoded inside JSON."""
    encoded = json.dumps(value)[1:-1]
    return [value, encoded, json.dumps(value, ensure_ascii=False)[1:-1]]


# Annotations whose value is YAML by design (Istio parses `proxy.istio.io/config` as a ProxyConfig): their
# content may legitimately reappear re-serialised inside a JSON string (PROXY_CONFIG), never as structure.
PARSED_BY_DESIGN = {"proxy.istio.io/config"}


def check_output(objects: list, out_objects: list, value: str, *, mode: str, parsed: bool = False) -> None:
    assert len(out_objects) == len(objects), f"{mode}: {len(out_objects)} objects out, {len(objects)} in"
    for before, after in zip(objects, out_objects):
        assert isinstance(after, dict), after
        for key in ("apiVersion", "kind"):
            assert after.get(key) == before.get(key)
        assert after["metadata"].get("name") == before["metadata"].get("name")
        assert after["metadata"].get("namespace") == before["metadata"].get("namespace")
        assert set(after) == set(before), f"{mode}: top-level keys changed: {set(after) ^ set(before)}"
    forms = _forms(value)
    for obj in out_objects:
        for path, key, scalar in walk(obj):
            if key is not None:
                assert MARK not in str(key) or any(str(key) == f for f in forms), \
                    f"{mode}: the value became a mapping key at {path}: {key!r}"
            elif isinstance(scalar, str) and MARK in scalar and not parsed:
                # whole, or a trimmed/truncated part of it (label values derived from it are sanitised)
                assert any(f in scalar for f in forms) or scalar in value, \
                    f"{mode}: the value was split or rewritten at {path}: {scalar[:200]!r}"
            elif scalar is not None and not isinstance(scalar, str):
                assert MARK not in str(scalar), f"{mode}: the value became a {type(scalar).__name__} at {path}"
        if obj.get("kind") == "Deployment":
            spec = obj["spec"]["template"]["spec"]
            for key in ("containers", "initContainers"):
                names = {c.get("name") for c in spec.get(key) or []}
                assert names <= INJECTED_CONTAINERS, f"{mode}: unexpected {key}: {names}"


def run_both(objects: list, value: str, function_config: dict | None = None,
             parsed: bool = False) -> list[tuple[str, int, str]]:
    """Run `kinject fn` and `kinject inject` on the objects; check both outputs; return (mode, code, messages)."""
    outcomes = []
    rl_text = dump(resource_list(objects, function_config))
    fn = run_inproc(["fn"], rl_text)
    assert fn.code in (0, 1), fn.stderr
    assert "Traceback" not in fn.stderr and "internal error" not in fn.stderr, fn.stderr[:3000]
    out = load(fn.stdout)
    assert isinstance(out, dict) and out["kind"] == "ResourceList", fn.stdout[:500]
    if fn.code == 1:
        # all or nothing: the items come back exactly as they went in, with an error result
        assert out["items"] == objects
        assert any(r.get("severity") == "error" for r in out.get("results") or [])
    check_output(objects, out["items"], value, mode="fn", parsed=parsed)
    for r in out.get("results") or []:
        assert isinstance(r.get("message"), str)
    outcomes.append(("fn", fn.code, fn.stderr))

    args = ["inject", "-"]
    stream = dump_all(objects)
    if function_config is not None:
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
            fh.write(dump(function_config))
        args = ["inject", f"--config={fh.name}", "-"]
    inj = run_inproc(args, stream)
    assert inj.code in (0, 1), inj.stderr
    assert "Traceback" not in inj.stderr and "internal error" not in inj.stderr, inj.stderr[:3000]
    if inj.code == 1:
        assert inj.stdout == "", "a failed inject writes nothing"
    else:
        docs = load_all(inj.stdout)
        check_output(objects, docs, value, mode="inject", parsed=parsed)
    assert inj.code == fn.code, f"fn exit {fn.code}, inject exit {inj.code}: {inj.stderr[:500]}"
    outcomes.append(("inject", inj.code, inj.stderr))
    return outcomes


ENABLED_NS = namespace("apps", {"istio-injection": "enabled"})


@pytest.mark.parametrize("annotation,value", matrix(ANNOTATIONS))
def test_annotation_values_are_data(annotation: str, value: str) -> None:
    objects = [ENABLED_NS, deployment(annotations={annotation: value})]
    for mode, code, stderr in run_both(objects, value, parsed=annotation in PARSED_BY_DESIGN):
        if code == 1:
            # an error names the workload and the annotation (or, for a template list, the template)
            assert "web" in stderr, stderr[:500]
            setting = annotation.split("/")[-1]
            assert annotation in stderr or setting in stderr or (setting == "templates" and "template" in stderr), \
                f"{mode}: {stderr[:500]}"


@pytest.mark.parametrize("label,value", matrix(LABELS))
def test_label_values_are_data(label: str, value: str) -> None:
    objects = [ENABLED_NS, deployment(labels={label: value})]
    run_both(objects, value)


@pytest.mark.parametrize("value", HOSTILE_VALUES[:-1], ids=_value_ids(HOSTILE_VALUES[:-1]))
@pytest.mark.parametrize("where", ["name", "namespace"])
def test_object_name_and_namespace_are_data(where: str, value: str) -> None:
    dep = deployment(labels={"sidecar.istio.io/inject": "true"})
    dep["metadata"][where] = value
    run_both([dep], value)


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=_value_ids(HOSTILE_VALUES))
def test_values_rendered_by_a_user_template_stay_strings(value: str) -> None:
    """A user template that writes the annotation into an env value, an arg and a label."""
    template = (
        "spec:\n"
        "  containers:\n"
        "  - name: istio-proxy\n"
        "    image: example.com/proxy:1\n"
        "    args: [{{ pod.metadata.annotations['example.com/v'] }}, x]\n"
        "    env:\n"
        "    - name: V\n"
        "      value: {{ pod.metadata.annotations['example.com/v'] }}\n"
        "metadata:\n"
        "  labels:\n"
        "    copied: {{ pod.metadata.annotations['example.com/v'] }}\n"
    )
    config = sidecar_injector({"templates": {"mine": template}})
    objects = [ENABLED_NS, deployment(annotations={"example.com/v": value, "inject.istio.io/templates": "mine"})]
    results = run_both(objects, value, config)
    if results[0][1] == 0:
        out = load(run_inproc(["fn"], dump(resource_list(objects, config))).stdout)
        pod = out["items"][1]["spec"]["template"]
        proxy = next(c for c in pod["spec"]["containers"] if c["name"] == "istio-proxy")
        assert proxy["args"] == [value, "x"]
        assert proxy["env"] == [{"name": "V", "value": value}]
        assert pod["metadata"]["labels"]["copied"] == value


def test_stderr_report_escapes_control_characters_in_names() -> None:
    """An object name is printed in the report; terminal escape sequences must not reach the terminal raw."""
    dep = deployment(labels={"sidecar.istio.io/inject": "true"})
    dep["metadata"]["name"] = "web\x1b]0;owned\x07\x1b[2J"
    run = run_inproc(["inject", "-"], dump_all([dep]))
    assert "\x1b" not in run.stderr, run.stderr


@pytest.mark.parametrize("value", [HOSTILE_VALUES[i] for i in CORE], ids=[f"v{i}" for i in CORE])
@pytest.mark.parametrize("annotation", ["openshift.io/sa.scc.uid-range", "openshift.io/sa.scc.supplemental-groups"])
def test_namespace_annotations_read_on_openshift_are_data(annotation: str, value: str) -> None:
    ns = namespace("apps", {"istio-injection": "enabled"}, {annotation: value})
    objects = [ns, deployment()]
    config = sidecar_injector({"platform": {"openshift": True}})
    for mode, code, stderr in run_both(objects, value, config):
        if code == 1:
            assert annotation in stderr or "uid" in stderr.lower() or "group" in stderr.lower(), stderr[:500]


@pytest.mark.parametrize("value", [HOSTILE_VALUES[i] for i in CORE] + ["../../../etc/passwd", "-1", "1e9"],
                         ids=[f"v{i}" for i in CORE] + ["traversal", "negative", "float"])
def test_kpt_path_and_index_annotations_are_data(value: str) -> None:
    """`config.kubernetes.io/path` and `index` end up in results (`file`), never as structure."""
    dep = deployment()
    dep["metadata"]["annotations"] = {"internal.config.kubernetes.io/path": value,
                                      "internal.config.kubernetes.io/index": value,
                                      "config.kubernetes.io/path": value}
    run = run_inproc(["fn"], dump(resource_list([ENABLED_NS, dep])))
    assert run.code in (0, 1) and "Traceback" not in run.stderr and "internal error" not in run.stderr
    out = load(run.stdout)
    assert out["items"][0] == ENABLED_NS
    for r in out.get("results") or []:
        if "file" in r:
            assert r["file"]["path"] == value
            assert isinstance(r["file"].get("index", 0), int)
