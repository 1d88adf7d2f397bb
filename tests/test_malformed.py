"""Issue 5 §5: malformed input. Invalid YAML (with line and column), non-UTF-8 bytes, duplicate keys, non-object
items, empty input, a missing `kind`, wrongly typed fields: each a clear error and exit 1, never a traceback,
never exit 0 with empty output. For `fn`, the error goes into a written ResourceList whenever the input could
be parsed.
"""

from __future__ import annotations

import pytest
import yaml

from strategies import (assert_clean_failure, assert_no_crash, deployment, dump, dump_all, load, namespace,
                        resource_list, run_inproc)

ENABLED_NS = namespace("apps", {"istio-injection": "enabled"})
RL_HEAD = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"


def fn(text: str | bytes):
    return run_inproc(["fn"], text)


def inject(text: str | bytes):
    return run_inproc(["inject", "-"], text)


# ------------------------------------------------------------------------------------------- YAML syntax

SYNTAX = {
    "unclosed-flow": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\n", "line 4"),
    "bad-indent": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n    x: y\n", "line 5"),
    "tab-indent": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n", "line 4"),
    "unclosed-quote": ('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "a}\n', "line 4"),
    "raw-nul": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\x00}\n", "line 3"),
    "truncated-json": ('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"\n', "line 2"),
    "undefined-alias": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: *nope}\n", "line 3"),
    "raw-escape": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: \x1b[31m}\n", "line 4"),
    "raw-c1-control": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: \x9b}\n", "line 4"),
    "python-tag-read": ("apiVersion: v1\nkind: Namespace\nmetadata: !!python/object:os.system {name: a}\n",
                        "line 3"),
}


@pytest.mark.parametrize("name", list(SYNTAX))
def test_invalid_yaml_names_line_and_column(name: str) -> None:
    text, line = SYNTAX[name]
    run = inject(text)
    assert_clean_failure(run, line)
    assert "column" in run.stderr
    assert run.stdout == ""
    rl = RL_HEAD + "items:\n- " + text.replace("\n", "\n  ")
    run = fn(rl)
    assert_clean_failure(run, "line")
    assert "column" in run.stderr


# ------------------------------------------------------------------------------------------- encoding


@pytest.mark.parametrize("data,where", [
    (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n", "line 3"),  # latin-1
    (b"\xff\xfea\x00p\x00i\x00", "line 1"),  # UTF-16 with BOM
    (b"apiVersion: v1\n\x80\x81\x82", "line 2"),
    (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \xed\xa0\x80}\n", "line 3"),  # UTF-8 encoded surrogate
])
def test_non_utf8_bytes_are_a_clear_error(data: bytes, where: str) -> None:
    for run in (inject(data), fn(RL_HEAD.encode() + b"items:\n- " + data.replace(b"\n", b"\n  "))):
        assert_clean_failure(run, "UTF-8")
        assert "byte offset" in run.stderr
    assert where in inject(data).stderr


def test_a_utf8_bom_is_accepted() -> None:
    text = dump_all([ENABLED_NS, deployment()])
    run = inject(b"\xef\xbb\xbf" + text.encode())
    assert run.code == 0, run.stderr
    assert "istio-proxy" in run.stdout


def test_escaped_lone_surrogate_does_not_crash_the_writer() -> None:
    """`"\\ud800"` is valid YAML escape syntax for a character UTF-8 cannot hold."""
    stream = dump_all([ENABLED_NS]) + (
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: apps}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata:\n      labels: {app: web}\n"
        '      annotations: {sidecar.istio.io/logLevel: "\\ud800"}\n'
        "    spec:\n      containers: [{name: app, image: nginx}]\n")
    for run in (inject(stream), fn(RL_HEAD + "items:\n" + "".join(
            ("- " if line.startswith("apiVersion") else "  ") + line + "\n"
            for line in stream.splitlines() if line != "---"))):
        assert_no_crash(run)


# ------------------------------------------------------------------------------------------- duplicate keys

DUPLICATES = {
    "top-level kind": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nkind: Secret\n",
    "metadata name": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
    "namespace label": ("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n  labels:\n"
                        "    istio-injection: enabled\n    istio-injection: disabled\n"),
    "pod annotation": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {sidecar.istio.io/inject: 'true'}\n"
                       "  annotations:\n    sidecar.istio.io/proxyCPU: 100m\n    sidecar.istio.io/proxyCPU: 2\n"
                       "spec:\n  containers: [{name: app, image: nginx}]\n"),
    "flow mapping": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, name: b}\n",
    "container": ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n"
                  "    image: x\n    image: y\n"),
}


@pytest.mark.parametrize("name", list(DUPLICATES))
def test_duplicate_keys_are_refused_naming_key_and_line(name: str) -> None:
    text = DUPLICATES[name]
    run = inject(text)
    assert_clean_failure(run, "duplicate key", "line")
    assert run.stdout == ""
    run = fn(RL_HEAD + "items:\n- " + text.replace("\n", "\n  "))
    assert_clean_failure(run, "duplicate key", "line")


def test_duplicate_keys_in_the_resource_list_and_function_config() -> None:
    items = "items:\n- " + dump(ENABLED_NS).replace("\n", "\n  ") + "\n"
    assert_clean_failure(fn(RL_HEAD + items + items), "duplicate key 'items'")
    config = ("functionConfig:\n  apiVersion: kinject.dev/v1alpha1\n  kind: SidecarInjector\n  spec:\n"
              "    defaultNamespace: a\n    defaultNamespace: b\n")
    assert_clean_failure(fn(RL_HEAD + items + config), "duplicate key 'defaultNamespace'")


def test_unknown_tags_on_objects_kinject_does_not_read_are_never_constructed() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: !!python/object/apply:os.system {name: a}\n"
    stream = dump_all([ENABLED_NS]) + "---\n" + text
    run = inject(stream)
    assert run.code == 0, run.stderr
    assert run.stdout == stream


def test_merge_keys_may_repeat() -> None:
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx: &x {a: 1}\ny: &y {b: 2}\n"
            "data:\n  <<: *x\n  <<: *y\n  c: '3'\n")
    assert inject(dump_all([ENABLED_NS]) + "---\n" + text).code == 0


# ------------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "--- \n...\n"])
def test_empty_input_is_an_error_not_empty_output(text: str) -> None:
    assert_clean_failure(inject(text))
    assert_clean_failure(fn(text))


@pytest.mark.parametrize("doc,needle", [
    ("just a string\n", "expected an object"),
    ("- a\n- b\n", "expected an object"),
    ("42\n", "expected an object"),
    ("apiVersion: v1\nmetadata: {name: a}\n", "no kind"),
    ("kind: ConfigMap\nmetadata: {name: a}\n", "no apiVersion"),
    ("apiVersion: v1\nkind: [ConfigMap]\nmetadata: {name: a}\n", "kind"),
    ("apiVersion: 1\nkind: ConfigMap\nmetadata: {name: a}\n", "apiVersion"),
])
def test_objects_without_the_basics_are_refused(doc: str, needle: str) -> None:
    stream = dump_all([ENABLED_NS]) + "---\n" + doc
    run = inject(stream)
    assert_clean_failure(run, needle)
    assert run.stdout == ""
    rl = RL_HEAD + "items:\n- " + dump(ENABLED_NS).replace("\n", "\n  ") + "\n- " + doc.replace("\n", "\n  ")
    run = fn(rl)
    assert_clean_failure(run, needle)
    out = load(run.stdout)
    assert out["results"][0]["severity"] == "error", "fn writes the ResourceList with an error result"
    assert out["items"][0] == ENABLED_NS


@pytest.mark.parametrize("text,needle", [
    ("- a\n", "ResourceList"),
    ("apiVersion: v1\nkind: List\nitems: []\n", "ResourceList"),
    (RL_HEAD + "items: {a: b}\n", "items"),
    (RL_HEAD + "items: 5\n", "items"),
    ("apiVersion: config.kubernetes.io/v2\nkind: ResourceList\nitems: []\n", "apiVersion"),
    (RL_HEAD + "items: []\n---\n" + RL_HEAD + "items: []\n", "one ResourceList"),
    (RL_HEAD + "items: []\nfunctionConfig: 5\n", "functionConfig"),
    (RL_HEAD + "items: []\nfunctionConfig: {apiVersion: v1, kind: Secret}\n", "functionConfig"),
])
def test_malformed_resource_lists(text: str, needle: str) -> None:
    assert_clean_failure(fn(text), needle)


BROKEN_WORKLOADS = {
    "metadata-scalar": {"metadata": 5},
    "name-list": {"metadata": {"name": ["a"], "namespace": "apps"}},
    "namespace-map": {"metadata": {"name": "a", "namespace": {"x": 1}}},
    "spec-scalar": {"spec": "x"},
    "spec-null": {"spec": None},
    "template-list": {"spec": {"selector": {}, "template": ["a"]}},
    "template-null": {"spec": {"selector": {}, "template": None}},
    "pod-metadata-list": {"spec": {"template": {"metadata": [1], "spec": {"containers": []}}}},
    "labels-list": {"spec": {"template": {"metadata": {"labels": ["a"]}, "spec": {"containers": []}}}},
    "labels-int-values": {"spec": {"template": {"metadata": {"labels": {"sidecar.istio.io/inject": True,
                                                                         "n": 5, "z": None}},
                                                 "spec": {"containers": [{"name": "a", "image": "x"}]}}}},
    "annotations-string": {"spec": {"template": {"metadata": {"labels": {"sidecar.istio.io/inject": "true"},
                                                               "annotations": "x"},
                                                  "spec": {"containers": [{"name": "a", "image": "x"}]}}}},
    "annotation-values-typed": {"spec": {"template": {
        "metadata": {"labels": {"sidecar.istio.io/inject": "true"},
                     "annotations": {"status.sidecar.istio.io/port": 15020,
                                     "sidecar.istio.io/proxyCPU": [1], "proxy.istio.io/config": {"a": 1}}},
        "spec": {"containers": [{"name": "a", "image": "x"}]}}}},
    "containers-map": {"spec": {"template": {"metadata": {"labels": {"sidecar.istio.io/inject": "true"}},
                                              "spec": {"containers": {"name": "a"}}}}},
    "container-scalar": {"spec": {"template": {"metadata": {"labels": {"sidecar.istio.io/inject": "true"}},
                                                "spec": {"containers": ["nginx"]}}}},
    "container-no-name": {"spec": {"template": {"metadata": {"labels": {"sidecar.istio.io/inject": "true"}},
                                                 "spec": {"containers": [{"image": "x"}]}}}},
    "ports-scalar": {"spec": {"template": {"metadata": {"labels": {"sidecar.istio.io/inject": "true"}},
                                            "spec": {"containers": [{"name": "a", "image": "x",
                                                                     "ports": "80"}]}}}},
    "probe-garbage": {"spec": {"template": {"metadata": {"labels": {"sidecar.istio.io/inject": "true"}},
                                             "spec": {"containers": [{"name": "a", "image": "x",
                                                                      "readinessProbe": {"httpGet": "x"}}]}}}},
    "host-network-string": {"spec": {"template": {"metadata": {"labels": {"sidecar.istio.io/inject": "true"}},
                                                   "spec": {"hostNetwork": "true",
                                                            "containers": [{"name": "a", "image": "x"}]}}}},
    "volumes-scalar": {"spec": {"template": {"metadata": {"labels": {"sidecar.istio.io/inject": "true"}},
                                              "spec": {"volumes": "x", "containers": [{"name": "a", "image": "x"}]}}}},
    "init-containers-null-items": {"spec": {"template": {"metadata": {"labels": {"sidecar.istio.io/inject": "true"}},
                                                          "spec": {"initContainers": [None],
                                                                   "containers": [{"name": "a", "image": "x"}]}}}},
    "status-annotation-garbage": {"spec": {"template": {
        "metadata": {"labels": {"sidecar.istio.io/inject": "true"},
                     "annotations": {"sidecar.istio.io/status": "{not json", "proxy.istio.io/overrides": "[1, 2"}},
        "spec": {"containers": [{"name": "a", "image": "x"}]}}}},
}


def _broken(patch: dict) -> dict:
    obj = deployment()
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(obj.get(key), dict) and key != "metadata":
            obj[key] = {**obj[key], **value}
        else:
            obj[key] = value
    return obj


@pytest.mark.parametrize("name", list(BROKEN_WORKLOADS))
@pytest.mark.parametrize("mode", ["fn", "inject"])
def test_wrongly_typed_workload_fields_never_crash(name: str, mode: str) -> None:
    objects = [ENABLED_NS, _broken(BROKEN_WORKLOADS[name])]
    run = fn(dump(resource_list(objects))) if mode == "fn" else inject(dump_all(objects))
    assert_no_crash(run)
    if run.code == 1 and mode == "fn":
        out = load(run.stdout)
        assert out["items"] == objects
        errors = [r for r in out["results"] if r["severity"] == "error"]
        assert errors, out["results"]


def test_empty_documents_between_objects_are_skipped() -> None:
    stream = "---\n# Source: chart/templates/empty.yaml\n---\n" + dump_all([ENABLED_NS, deployment()]) + "---\n"
    run = inject(stream)
    assert run.code == 0, run.stderr
    assert "istio-proxy" in run.stdout


def test_fn_writes_duplicate_key_errors_into_the_resource_list() -> None:
    text = RL_HEAD + "items:\n- " + DUPLICATES["metadata name"].replace("\n", "\n  ")
    run = fn(text)
    assert_clean_failure(run, "duplicate key")
    out = load(run.stdout)
    assert [r["severity"] for r in out["results"]] == ["error"]
    assert "duplicate key 'name'" in out["results"][0]["message"]


@pytest.mark.parametrize("mode", ["inject", "fn"])
def test_duplicate_keys_in_json_input(mode: str) -> None:
    obj = '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "name": "b"}}'
    text = obj if mode == "inject" else (
        '{"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [' + obj + "]}")
    assert_clean_failure(fn(text) if mode == "fn" else inject(text), "duplicate key 'name'")


@pytest.mark.parametrize("existing", ["results: 5\n", "results: {a: b}\n", "results:\n- a\n- {message: x}\n",
                                      "results: []\n", "results: |\n  text\n"])
@pytest.mark.parametrize("ok", [True, False])
def test_existing_results_of_any_shape_are_replaced_cleanly(existing: str, ok: bool) -> None:
    dep = deployment(annotations={} if ok else {"status.sidecar.istio.io/port": "99999"})
    text = dump(resource_list([ENABLED_NS, dep])) + existing
    run = fn(text)
    assert_no_crash(run)
    assert run.code == (0 if ok else 1)
    out = load(run.stdout)
    assert isinstance(out["results"], list)
    assert all(isinstance(r, dict) and "message" in r for r in out["results"])


NON_STRING_KEYS = {
    "null-key-in-template": ("    ~: x\n", ()),
    "int-key-in-template": ("    7: x\n", ()),
    "bool-key-in-pod-spec": ("    spec: {true: 1, containers: [{name: a, image: b}]}\n", ()),
    "null-key-in-container": ("    spec: {containers: [{name: a, image: b, ~: 1}]}\n", ()),
}


@pytest.mark.parametrize("name", [pytest.param(k, marks=m) for k, (_, m) in NON_STRING_KEYS.items()])
@pytest.mark.parametrize("mode", ["fn", "inject"])
def test_non_string_keys_in_an_injected_pod_template(name: str, mode: str) -> None:
    line = NON_STRING_KEYS[name][0]
    spec_line = "    spec: {containers: [{name: a, image: b}]}\n"
    body = line + ("" if line.startswith("    spec:") else spec_line)
    doc = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: apps}\nspec:\n"
           "  selector: {matchLabels: {app: web}}\n  template:\n"
           "    metadata: {labels: {sidecar.istio.io/inject: 'true'}}\n" + body)
    stream = dump(ENABLED_NS) + "---\n" + doc
    if mode == "fn":
        run = fn(RL_HEAD + "items:\n" + "".join(
            ("- " if i == 0 else "  ") + line + "\n" for i, line in enumerate(doc.splitlines())))
    else:
        run = inject(stream)
    assert_no_crash(run)


@pytest.mark.parametrize("doc", [
    pytest.param("{.00}", id="float-key-only"),
    pytest.param("{1.5: x, apiVersion: v1, kind: ConfigMap, metadata: {name: a}}", id="float"),
    pytest.param("{.inf: x, apiVersion: v1, kind: ConfigMap, metadata: {name: a}}", id="inf"),
    pytest.param("{2020-01-01: x, apiVersion: v1, kind: ConfigMap, metadata: {name: a}}", id="date"),
    pytest.param("{~: x, apiVersion: v1, kind: ConfigMap, metadata: {name: a}}", id="null"),
    pytest.param("{true: x, apiVersion: v1, kind: ConfigMap, metadata: {name: a}}", id="bool"),
    pytest.param("{apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {b: .nan, c: 2020-01-01}}",
                 id="float-date-values"),
])
@pytest.mark.parametrize("mode", ["fn", "inject"])
def test_non_string_scalars_in_flow_documents(doc: str, mode: str) -> None:
    text = doc if mode == "inject" else "{apiVersion: config.kubernetes.io/v1, kind: ResourceList, items: [" + doc + "]}"
    run = fn(text) if mode == "fn" else inject(text)
    assert_no_crash(run)


def test_binary_values_in_rewritten_objects_stay_valid_yaml() -> None:
    stream = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
              "  selector: {matchLabels: {app: web}}\n"
              "  template: {metadata: {labels: {app: web, sidecar.istio.io/inject: 'true'}}, spec: {containers: "
              "[{name: a, image: b, env: [{name: X, value: !!binary aGVsbG8=}]}]}}\n")
    run = inject(stream)
    assert run.code == 0, run.stderr
    docs = yaml.safe_load_all(run.stdout)
    pod = next(iter(docs))["spec"]["template"]["spec"]
    app = next(c for c in pod["containers"] if c["name"] == "a")
    assert app["env"][0]["value"] == b"hello"


@pytest.mark.parametrize("tail", [
    pytest.param("functionConfig:\n", id="empty"),
    pytest.param("functionConfig:\n---\n", id="empty-then-marker"),
    pytest.param("functionConfig: # nothing\n", id="comment"),
    pytest.param("functionConfig: null\n", id="null"),
    pytest.param("functionConfig: ~\n", id="tilde"),
    pytest.param("functionConfig: {}\n", id="empty-map"),
])
def test_an_empty_function_config_is_the_defaults(tail: str) -> None:
    run = fn(dump(resource_list([ENABLED_NS, deployment()])) + tail)
    assert_no_crash(run)
    assert run.code == 0 or "functionConfig" in run.stderr, run.stderr


@pytest.mark.parametrize("doc", [
    pytest.param("{0x_}", id="flow-key"),
    pytest.param("{a: -0x_}", id="flow-value"),
    pytest.param("{0b_: 1, apiVersion: v1, kind: ConfigMap, metadata: {name: a}}", id="flow-object"),
    pytest.param("apiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {a: 0x_}}\n", id="namespace-label"),
    pytest.param("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: 0x_}\n", id="passed-through"),
])
def test_scalars_pyyaml_cannot_construct(doc: str) -> None:
    assert_no_crash(inject(doc))


@pytest.mark.parametrize("value", ["a: 0x_", "a: 0b_"])
def test_invalid_numbers_inside_cluster_configmaps_are_a_clear_error(value: str) -> None:
    """YAML embedded in a ConfigMap (mesh config, injector values) goes through the same reader as the input:
    a scalar that resolves as a number but does not convert is an error naming the ConfigMap and key."""
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
          "data": {"mesh": value}}
    text = RL_HEAD + "items:\n" + "".join("- " + dump(o).replace("\n", "\n  ").rstrip() + "\n"
                                          for o in (ENABLED_NS, cm, deployment("web", "apps")))
    assert_clean_failure(fn(text), "ConfigMap istio data.mesh")
