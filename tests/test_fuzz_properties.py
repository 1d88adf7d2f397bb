"""Issue 5 §7: properties of random valid bundles (hypothesis).

Generated Namespaces (labelled or not), Deployments/StatefulSets/DaemonSets/ReplicaSets/Jobs/CronJobs/Pods with
random labels and annotations drawn from the real annotation set (valid values), Services/ConfigMaps/Secrets/
ServiceAccounts, written as YAML in random styles with comments sprinkled in, keep:

* success: a valid bundle is injected with exit 0;
* idempotence: `inject(inject(x)) == inject(x)` byte for byte (and the same for `fn`);
* every object that is not injected (non-workloads, skipped workloads) comes out byte-identical;
* every output object is valid against the Kubernetes schema of its kind (kubernetes-validate, strict);
* the decision equals `reference_decision`, written from reference §1.1/§1.2/§1.6 independently of policy.py.

`KINJECT_FUZZ_EXAMPLES=N` scales the number of examples.
"""

from __future__ import annotations

import kubernetes_validate
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from strategies import (bundles, commented_yaml, dump, fuzz_settings, load, load_all, resource_list,
                        run_inproc, sidecar_injector, tally, write_tally)


@pytest.fixture(autouse=True, scope="module")
def _campaign_figures():
    yield
    write_tally()

K8S_VERSION = kubernetes_validate.latest_version()
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "local-path-storage"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
INJECT = "sidecar.istio.io/inject"


def pod_template(obj: dict) -> dict:
    kind = obj["kind"]
    if kind == "Pod":
        return obj
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return obj["spec"]["template"]


def _matches(selector: dict, labels: dict) -> bool:
    """A metav1.LabelSelector (matchLabels, matchExpressions with Exists/DoesNotExist/In/NotIn); empty never
    matches (reference §1.2 notes)."""
    if not selector:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        op, key, values = e["operator"], e["key"], e.get("values") or []
        if op == "Exists" and key not in labels or op == "DoesNotExist" and key in labels:
            return False
        if op == "In" and labels.get(key) not in values or op == "NotIn" and key in labels and labels[key] in values:
            return False
    return True


def reference_decision(obj: dict, ns_labels: dict[str, dict], installed: set[str], tags: dict[str, str],
                       policy: str = "enabled", never: tuple = (), always: tuple = (), auto: bool = False) -> bool:
    """Reference §1.6: the webhook selectors (layer A, §1.1), then injectRequired (layer B, §1.2)."""
    ns = obj["metadata"].get("namespace") or "default"
    nsl = ns_labels.get(ns, {})
    template = pod_template(obj)
    podl = (template.get("metadata") or {}).get("labels") or {}
    poda = (template.get("metadata") or {}).get("annotations") or {}
    # layer A: MutatingWebhookConfiguration selectors (labels only)
    if "istio-injection" in nsl:
        rev = "default" if nsl["istio-injection"] == "enabled" and podl.get(INJECT) != "false" else None
    elif "istio.io/rev" in nsl:
        rev = nsl["istio.io/rev"] if podl.get(INJECT) != "false" else None
    elif "istio.io/rev" in podl:
        rev = podl["istio.io/rev"] if podl.get(INJECT) != "false" else None
    elif podl.get(INJECT) == "true":
        rev = "default"
    elif auto and INJECT not in podl and ns not in SYSTEM_NAMESPACES:
        rev = "default"  # the `auto.` webhook (enableNamespacesByDefault)
    else:
        rev = None
    if rev is None:
        return False
    rev = tags.get(rev, rev)
    if rev not in installed:
        return False
    # layer B: injectRequired
    if (template.get("spec") or {}).get("hostNetwork") is True:
        return False
    if ns in SYSTEM_NAMESPACES:
        return False
    selector = podl[INJECT] if INJECT in podl else poda.get(INJECT, "")
    explicit = {"true": True, "false": False}.get(selector)
    if explicit is None and any(_matches(sel, podl) for sel in never):
        explicit = False
    if explicit is None and any(_matches(sel, podl) for sel in always):
        explicit = True
    if policy == "enabled":
        return True if explicit is None else explicit
    if policy == "disabled":
        return False if explicit is None else explicit
    return False


NEVER = ({"matchExpressions": [{"key": "version", "operator": "Exists"}]},)
ALWAYS = ({"matchExpressions": [{"key": "security.istio.io/tlsMode", "operator": "Exists"}]},
          {"matchLabels": {"app.kubernetes.io/name": "a"}})
# (function config, installed revisions, tags, reference options)
CONFIGS = [
    (None, {"default"}, {}, {}),
    (sidecar_injector({"revisions": {"canary": {}}, "revisionTags": {"stable": "canary"}}),
     {"default", "canary"}, {"stable": "canary"}, {}),
    (sidecar_injector({"injectorConfig": {"neverInjectSelector": list(NEVER), "alwaysInjectSelector": list(ALWAYS)}}),
     {"default"}, {}, {"never": NEVER, "always": ALWAYS}),
    (sidecar_injector({"injectorConfig": {"policy": "disabled", "alwaysInjectSelector": list(ALWAYS)}}),
     {"default"}, {}, {"policy": "disabled", "always": ALWAYS}),
    (sidecar_injector({"values": {"sidecarInjectorWebhook": {"enableNamespacesByDefault": True}}}),
     {"default"}, {}, {"auto": True}),
]


def _count(what: str) -> None:
    from strategies import OUTCOMES

    OUTCOMES[f"test_stream_properties {what}"] = OUTCOMES.get(f"test_stream_properties {what}", 0) + 1


def split_docs(text: str) -> list[str]:
    docs, current = [], []
    for line in text.splitlines(keepends=True):
        if line.rstrip("\n") == "---":
            docs.append("".join(current))
            current = []
        else:
            current.append(line)
    docs.append("".join(current))
    return [d for d in docs if d.strip() and any(not x.lstrip().startswith("#") for x in d.splitlines()
                                                 if x.strip())]


def has_proxy(obj: dict) -> bool:
    spec = pod_template(obj).get("spec") or {}
    return any(c.get("name") == "istio-proxy" for c in (spec.get("containers") or []) + (
        spec.get("initContainers") or []))


def _unique_names(objects: list) -> list:
    for i, obj in enumerate(objects):
        if obj["kind"] != "Namespace":
            obj["metadata"]["name"] = f"{obj['metadata']['name']}-{i}"
    return objects


@given(bundle=bundles(), config_index=st.integers(0, len(CONFIGS) - 1), data=st.data())
@fuzz_settings(50)
def test_stream_properties(bundle: dict, config_index: int, data, tmp_path_factory) -> None:
    objects = _unique_names(bundle["objects"])
    config, installed, tags, opts = CONFIGS[config_index]
    text = data.draw(commented_yaml(objects))
    note(text)
    args = ["inject", "-"]
    if config is not None:
        path = tmp_path_factory.mktemp("cfg") / "config.yaml"
        path.write_text(dump(config))
        args = ["inject", f"--config={path}", "-"]
    first = run_inproc(args, text)
    tally("test_stream_properties", "inject", first)
    assert first.code == 0, first.stderr
    assert "Traceback" not in first.stderr
    second = run_inproc(args, first.stdout)
    assert second.code == 0, second.stderr
    assert second.stdout == first.stdout, "not idempotent"

    out_objects = load_all(first.stdout)
    assert len(out_objects) == len(objects)
    in_docs, out_docs = split_docs(text), split_docs(first.stdout)
    assert len(in_docs) == len(out_docs) == len(objects)
    ns_labels = {n: labels for n, labels in bundle["namespaces"].items()}
    for obj, out, in_doc, out_doc in zip(objects, out_objects, in_docs, out_docs):
        kubernetes_validate.validate(out, K8S_VERSION, strict=True)
        if obj["kind"] in WORKLOAD_KINDS:
            expected = reference_decision(obj, ns_labels, installed, tags, **opts)
            _count("workloads injected" if expected else "workloads skipped")
            assert has_proxy(out) == expected, f"{obj['kind']} {obj['metadata']['name']}: decision differs"
            if not expected:
                assert out_doc == in_doc, "a skipped workload must come out byte-identical"
        else:
            assert out_doc == in_doc, f"{obj['kind']} changed"
            _count("other objects unchanged")


@given(bundle=bundles(), config_index=st.integers(0, len(CONFIGS) - 1))
@fuzz_settings(50)
def test_fn_properties(bundle: dict, config_index: int) -> None:
    objects = _unique_names(bundle["objects"])
    config, installed, tags, opts = CONFIGS[config_index]
    text = dump(resource_list(objects, config))
    first = run_inproc(["fn"], text)
    tally("test_fn_properties", "fn", first)
    assert first.code == 0, first.stderr
    out = load(first.stdout)
    ns_labels = dict(bundle["namespaces"])
    for obj, result in zip(objects, out["items"]):
        if obj["kind"] in WORKLOAD_KINDS:
            assert has_proxy(result) == reference_decision(obj, ns_labels, installed, tags, **opts), \
                f"{obj['kind']} {obj['metadata']['name']}: decision differs"
        else:
            assert result == obj
    # idempotent on the items (the results differ: "injected" then "already current")
    second = run_inproc(["fn"], first.stdout)
    assert second.code == 0, second.stderr
    assert second.stdout.split("\nresults:\n")[0] == first.stdout.split("\nresults:\n")[0]
    third = run_inproc(["fn"], second.stdout)
    assert third.stdout == second.stdout, "byte-identical from the second run on"
    for r in out.get("results") or []:
        assert r["severity"] in ("info", "warning"), r


@pytest.mark.parametrize("kind", sorted(WORKLOAD_KINDS))
def test_reference_table_sanity(kind: str) -> None:
    """The reference itself on the obvious rows (guards the test oracle)."""
    obj = {"kind": kind, "metadata": {"namespace": "apps"}}
    tmpl = {"metadata": {"labels": {}}, "spec": {}}
    if kind == "Pod":
        tmpl["metadata"]["namespace"] = "apps"
        obj = {"kind": kind, **tmpl}
    elif kind == "CronJob":
        obj["spec"] = {"jobTemplate": {"spec": {"template": tmpl}}}
    else:
        obj["spec"] = {"template": tmpl}
    assert reference_decision(obj, {"apps": {"istio-injection": "enabled"}}, {"default"}, {})
    assert not reference_decision(obj, {"apps": {"istio-injection": "disabled"}}, {"default"}, {})
    assert not reference_decision(obj, {}, {"default"}, {})
    tmpl["metadata"]["labels"] = {INJECT: "true"}
    assert reference_decision(obj, {}, {"default"}, {})
    tmpl["spec"]["hostNetwork"] = True
    assert not reference_decision(obj, {}, {"default"}, {})
