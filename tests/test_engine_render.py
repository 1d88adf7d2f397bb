"""Rendering: escaping of interpolated values, the user-template sandbox, and the render cache."""

from __future__ import annotations

import random

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from kinject import inject as inject_module
from kinject.errors import TemplateError
from kinject.inject import inject_pod
from kinject.model import PodTemplate, Workload
from kinject.profile import build_profile
from kinject.render import RenderCache, check_templates, render_text
from kinject.templating import yaml_value

HUB = {"global": {"hub": "registry.istio.io/testing", "tag": "latest"}}


def render_value(value: object) -> object:
    text = render_text("t", "key: {{ v }}\nlist:\n- {{ v }}\n", {"v": value}, sandboxed=True)
    return yaml.load(text, Loader=yaml.CSafeLoader)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_any_string_round_trips_as_one_scalar(value: str) -> None:
    assert render_value(value) == {"key": value, "list": [value]}


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=10))
@settings(max_examples=100, deadline=None)
def test_structured_values_round_trip(value: object) -> None:
    assert render_value(value) == {"key": value, "list": [value]}


@pytest.mark.parametrize("hostile", ["x\nkind: Secret", "{{ 7*7 }}", "a: b", "'; rm -rf /", "\u2028x: y", "\x85",
                                     "- item", "&anchor", "*alias", "!!python/object", "--- \n...", "\"}"])
def test_annotation_values_stay_data_in_the_injected_pod(hostile: str) -> None:
    profile = build_profile(values_layers=[HUB])
    pod = PodTemplate({"annotations": {"sidecar.istio.io/logLevel": hostile,
                                       "sidecar.istio.io/bootstrapOverride": hostile},
                       "labels": {"app": hostile, "service.istio.io/canonical-revision": hostile}},
                      {"containers": [{"name": "app", "image": "x"}]})
    out = inject_pod(pod, Workload("apps/v1", "Deployment", "web", "default"), profile)
    proxy = next(c for c in out.spec["initContainers"] if c["name"] == "istio-proxy")
    assert f"--proxyLogLevel={hostile}" in proxy["args"]
    assert out.metadata["labels"]["service.istio.io/canonical-revision"] == hostile
    volume = next(v for v in out.spec["volumes"] if v["name"] == "custom-bootstrap-volume")
    assert volume["configMap"] == {"name": hostile}
    assert set(out.metadata) == {"annotations", "labels"}


def test_lone_surrogates_are_rejected() -> None:
    with pytest.raises(TemplateError, match="surrogate"):
        yaml_value("\ud800")


def user_profile(source: str):
    return build_profile(values_layers=[HUB], templates={"mine": source})


def inject_with(source: str, annotations: dict | None = None):
    profile = user_profile(source)
    pod = PodTemplate({"annotations": {"inject.istio.io/templates": "mine", **(annotations or {})}},
                      {"containers": [{"name": "app", "image": "x"}]})
    return inject_pod(pod, Workload("apps/v1", "Deployment", "web", "default"), profile)


@pytest.mark.parametrize("source,message", [
    ("{{ ''.__class__.__mro__ }}", "unsafe|access"),
    ("{{ pod.spec.containers.append(1) }}", "unsafe|immutable|not safely callable|append"),
    ("{% for i in range(1000000) %}{% endfor %}", "range"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "budget"),
    ("{% for i in range(60000) %}{{ 'x' * 100 }}{% endfor %}", "more than"),
    ("{{ 'x' * 100000000 }}", "repetition"),
    ("{{ 10 ** 100000 }}", "exponent"),
    ("{{ undefined_name }}", "undefined"),
    ("{% include 'x' %}", "mine"),
    ("spec:\n  a: &x [1]\n  b: *x", "anchors"),
    ("- a list", "mapping"),
    ("kind: Secret", "unsupported top-level"),
    ("spec: [", "valid YAML"),
    ("metadata:\n  annotations:\n    when: 2001-12-14", "date value"),
    ("metadata:\n  annotations:\n    bin: !!binary aGVsbG8=", "bytes value"),
    ("metadata:\n  annotations:\n    1: a", "not a string"),
    ("{{ cycler }}", "undefined"),
    ("{% set a = 'x' * 1000000 %}{% set b = a ~ a %}", "concatenation"),
    ("{% set a = 'x' * 1000000 %}{% set b = a + a %}", "addition"),
    ("{{ 'x'|center(1000000000) }}", "too large"),
    ("{{ '{:>999999999}'.format(1) }}", "width"),
    ("{{ '%999999999s' % 1 }}", "width"),
    ("{{ '%999999999s'|format(1) }}", "width"),
    ("{% set ns = namespace(s='x') %}", "undefined"),
    ("{{ 'a'.ljust(1000000000) }}", "not allowed"),
    ("{{ '\\t'.expandtabs(1000000000) }}", "not allowed"),
    ("{{ ('a' * 1000000).join(range(1000)|map('string')) }}", "str.join"),
    ("{{ ('a' * 100000)|replace('a', 'a' * 100000) }}", "replace"),
    ("{{ ('a' * 100000).replace('a', 'a' * 100000) }}", "str.replace"),
    ("{{ range(100000)|join('a' * 1000000) }}", "join"),
    ("{{ ('a\\n' * 500000)|indent(100000) }}", "indent"),
])
def test_user_templates_are_sandboxed_and_bounded(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message) as info:
        inject_with(source)
    assert "mine" in str(info.value)


def test_large_numbers_are_still_data_in_user_templates() -> None:
    source = ("{% macro m(n) %}{{ n }}{% endmacro %}metadata:\n  annotations:\n"
              "    a: {{ 2000000|string }}\n    b: {{ m(3000000) ~ '' }}\n    c: {{ dict(x=4000000).x|string }}\n")
    out = inject_with(source)
    assert {k: out.metadata["annotations"][k] for k in "abc"} == {"a": "2000000", "b": "3000000", "c": "4000000"}


def test_user_template_sees_pod_data_and_cannot_emit_structure_from_it() -> None:
    source = "metadata:\n  annotations:\n    echo: {{ annotations['x'] }}\n    first: {{ pod.spec.containers[0].name }}\n"
    out = inject_with(source, {"x": "a\nb: c"})
    assert out.metadata["annotations"]["echo"] == "a\nb: c"
    assert out.metadata["annotations"]["first"] == "app"


def test_unknown_template_is_an_error_naming_it() -> None:
    profile = build_profile(values_layers=[HUB])
    pod = PodTemplate({"annotations": {"inject.istio.io/templates": "sidecar,nope"}}, {"containers": [{"name": "a"}]})
    with pytest.raises(TemplateError, match="'nope' not found"):
        inject_pod(pod, Workload("apps/v1", "Deployment", "web", "default"), profile)


# ------------------------------------------------------------------------------------ cache equivalence

class UncachedRenderer:
    """Stands in for the process-wide cache: every render goes through Jinja2 + YAML parsing."""

    def render_owned(self, name, profile, data):
        return RenderCache().render_owned(name, profile, data, use_cache=False)


ANNOTATION_CHOICES = {
    "sidecar.istio.io/proxyCPU": ["100m", "2"],
    "sidecar.istio.io/interceptionMode": ["REDIRECT", "TPROXY", "NONE"],
    "status.sidecar.istio.io/port": ["0", "15020", "123"],
    "traffic.sidecar.istio.io/excludeInboundPorts": ["1,2", ""],
    "sidecar.istio.io/logLevel": ["debug"],
    "proxy.istio.io/config": ["concurrency: 3", "holdApplicationUntilProxyStarts: true"],
    "sidecar.istio.io/nativeSidecar": ["true", "false"],
    "kubectl.kubernetes.io/default-container": ["other"],
    "inject.istio.io/templates": ["sidecar", "gateway", "grpc-agent", "grpc-simple", "sidecar,spire"],
    "sidecar.istio.io/userVolume": ['{"v1": {"emptyDir": {}}}'],
    "unrelated/annotation": ["a", "b"],
    "prometheus.io/port": ["8080"],
}
LABEL_CHOICES = {"app": ["a", "b", "x" * 70 + "-"], "version": ["v1", "v2"], "security.istio.io/tlsMode": ["disabled"],
                 "service.istio.io/workload-name": ["wl"], "topology.istio.io/network": ["n1"]}
KINDS = [("apps/v1", "Deployment"), ("batch/v1", "Job"), ("v1", "Pod"), ("apps/v1", "StatefulSet")]


def random_pod(rng: random.Random) -> tuple[PodTemplate, Workload]:
    annotations = {k: rng.choice(v) for k, v in ANNOTATION_CHOICES.items() if rng.random() < 0.3}
    labels = {k: rng.choice(v) for k, v in LABEL_CHOICES.items() if rng.random() < 0.4}
    containers = []
    for i in range(rng.randint(0, 3)):
        container = {"name": rng.choice(["app", "web", "istio-proxy", f"c{i}"]) + ("" if i == 0 else str(i)),
                     "image": f"img:{rng.randint(1, 3)}"}
        if rng.random() < 0.6:
            container["ports"] = [{"containerPort": rng.choice([80, 8080, 9000]), "name": "http"}]
            container["readinessProbe"] = {"httpGet": {"port": "http"}}
        if container["name"] == "istio-proxy":
            container["image"] = "auto"
            container["securityContext"] = {"runAsUser": rng.choice([1234, 0])}
        containers.append(container)
    spec = {"containers": containers, "serviceAccountName": rng.choice(["a", "b", ""])}
    api, kind = rng.choice(KINDS)
    metadata = {"labels": labels, "annotations": annotations}
    if kind == "Pod" and rng.random() < 0.5:
        metadata.update(name="p-xyz", generateName="p-",
                        ownerReferences=[{"controller": True, "kind": "ReplicaSet", "name": "web-abc",
                                          "apiVersion": "apps/v1"}])
        labels["pod-template-hash"] = "abc"
    return PodTemplate(metadata, spec), Workload(api, kind, rng.choice(["web", "api", "w" * 70]),
                                                 rng.choice(["default", "prod"]))


SPIRE = "spec:\n  containers:\n  - name: istio-proxy\n    volumeMounts:\n    - {name: workload-socket, mountPath: /s, readOnly: true}\n"


@pytest.mark.parametrize("profile_layers", [
    {},
    {"values": {"global": {"mountMtlsCerts": True, "network": "n0", "proxy": {"resources": {"limits": {"cpu": None}}}},
                "pilot": {"cni": {"enabled": True, "provider": "multus"}}},
     "mesh": {"defaultConfig": {"proxyMetadata": {"A": "1"}}}, "native": False},
])
def test_cached_renders_equal_uncached_renders(profile_layers: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = build_profile(values_layers=[HUB, profile_layers.get("values") or {}],
                            mesh_layers=[profile_layers.get("mesh") or {}],
                            native_sidecars=profile_layers.get("native", True), templates={"spire": SPIRE})
    rng = random.Random(7)
    pods = [random_pod(rng) for _ in range(300)]
    cache = RenderCache()
    monkeypatch.setattr(inject_module, "RENDER_CACHE", cache)
    cached = [_outcome(pod, workload, profile) for pod, workload in pods]
    cached_again = [_outcome(pod, workload, profile) for pod, workload in reversed(pods)][::-1]
    assert cache.hits > cache.misses  # the test exercises the cache, not just misses
    monkeypatch.setattr(inject_module, "RENDER_CACHE", UncachedRenderer())
    uncached = [_outcome(pod, workload, profile) for pod, workload in pods]
    for i, (a, b, c) in enumerate(zip(cached, cached_again, uncached)):
        assert a == c, f"pod {i}: cached render differs from uncached render"
        assert b == c, f"pod {i}: warm-cache render differs from uncached render"


def _outcome(pod: PodTemplate, workload: Workload, profile) -> object:
    try:
        out = inject_pod(pod, workload, profile)
    except TemplateError as exc:
        return ("error", str(exc))
    return (out.metadata, out.spec, out.warnings)


@pytest.mark.parametrize("native,values", [(True, {}), (False, {"global": {"network": "n0", "mountMtlsCerts": True},
                                                                 "pilot": {"cni": {"enabled": True}}})])
def test_random_pods_reinject_to_the_same_result(native: bool, values: dict) -> None:
    """inject_pod(inject_pod(x)) == inject_pod(x): the text layer relies on it for byte-identical reruns."""
    profile = build_profile(values_layers=[HUB, values], native_sidecars=native, templates={"spire": SPIRE})
    rng = random.Random(11)
    for i in range(600):
        pod, workload = random_pod(rng)
        try:
            first = inject_pod(pod, workload, profile)
        except TemplateError:
            continue
        second = inject_pod(PodTemplate(first.metadata, first.spec), workload, profile)
        assert (second.metadata, second.spec) == (first.metadata, first.spec), f"pod {i}: {pod}"


def test_check_templates_reports_syntax_errors_early() -> None:
    check_templates(build_profile(templates={"ok": "spec: {}"}))
    with pytest.raises(TemplateError, match="'broken'.*syntax error at line 2"):
        check_templates(build_profile(templates={"broken": "spec:\n  x: {{ a b }}"}))


def test_spire_like_patch_on_a_native_proxy_is_redirected_with_a_warning() -> None:
    profile = build_profile(values_layers=[HUB], templates={"spire": SPIRE})
    pod = PodTemplate({"annotations": {"inject.istio.io/templates": "sidecar,spire"}}, {"containers": [{"name": "a"}]})
    out = inject_pod(pod, Workload("apps/v1", "Deployment", "web", "default"), profile)
    assert [c["name"] for c in out.spec["containers"]] == ["a"]
    proxy = next(c for c in out.spec["initContainers"] if c["name"] == "istio-proxy")
    assert {"name": "workload-socket", "mountPath": "/s", "readOnly": True} in proxy["volumeMounts"]
    assert any("spire" in w for w in out.warnings)
