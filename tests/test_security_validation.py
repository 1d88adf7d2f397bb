"""Issue 5 §4: validation with field paths.

The function config (SidecarInjector) is validated for types, allowed keys and enum values: an error names
the key path and exits 1, in `fn` (an error result with the path) and in `inject --config`. Istio's annotation
validation (reference §1.2) applies: an invalid value fails injection with an error that names the resource and
the annotation, in both modes; values Istio accepts (including the ones it does not validate) still inject.
"""

from __future__ import annotations

import pytest

from strategies import (assert_clean_failure, deployment, dump, dump_all, load, namespace, resource_list,
                        run_inproc, sidecar_injector)

ENABLED_NS = namespace("apps", {"istio-injection": "enabled"})
OBJECTS = [ENABLED_NS, deployment()]

# (spec, the key path the error must name)
BAD_CONFIGS = [
    ({"bogus": 1}, "spec.bogus"),
    ({"nativeSidecars": "yes"}, "spec.nativeSidecars"),
    ({"nativeSidecars": None}, "spec.nativeSidecars"),
    ({"defaultNamespace": ["a"]}, "spec.defaultNamespace"),
    ({"values": ["a"]}, "spec.values"),
    ({"meshConfig": 5}, "spec.meshConfig"),
    ({"meshConfig": "a: [1"}, "spec.meshConfig"),
    ({"templates": ["a"]}, "spec.templates"),
    ({"templates": {"mine": 5}}, "spec.templates.mine"),
    ({"defaultTemplates": "sidecar"}, "spec.defaultTemplates"),
    ({"defaultTemplates": ["sidecar", 5]}, "spec.defaultTemplates[1]"),
    ({"aliases": {"a": "sidecar"}}, "spec.aliases.a"),
    ({"namespaces": {"apps": {"labels": {"a": 1}}}}, "spec.namespaces.apps.labels.a"),
    ({"namespaces": {"apps": {"bogus": {}}}}, "spec.namespaces.apps.bogus"),
    ({"namespaces": ["apps"]}, "spec.namespaces"),
    ({"revisions": {"canary": {"bogus": 1}}}, "spec.revisions.canary.bogus"),
    ({"revisions": {"canary": {"nativeSidecars": "no"}}}, "spec.revisions.canary.nativeSidecars"),
    ({"revisions": {"canary": 5}}, "spec.revisions.canary"),
    ({"revisionTags": {"prod": 5}}, "spec.revisionTags.prod"),
    ({"revisionTags": {"prod": "missing"}}, "spec.revisionTags.prod"),
    ({"platform": {"openshift": "true"}}, "spec.platform.openshift"),
    ({"platform": {"k8s": True}}, "spec.platform.k8s"),
    ({"limits": {"maxDepth": "deep"}}, "spec.limits.maxDepth"),
    ({"limits": {"maxDepth": 0}}, "spec.limits.maxDepth"),
    ({"limits": {"maxAliases": True}}, "spec.limits.maxAliases"),
    ({"limits": {"maxNodes": 5}}, "spec.limits.maxNodes"),
    ({"injectorConfig": {"bogus": 1}}, "spec.injectorConfig.bogus"),
    ({"compliancePolicy": 5}, "spec.compliancePolicy"),
]

# Enum values: the config accepts a closed set. (compliancePolicy is free text in Istio: not an enum.)
BAD_ENUMS = [
    ({"injectorConfig": {"policy": "sometimes"}}, "injectorConfig.policy"),
    ({"values": {"global": {"proxy": {"autoInject": "sometimes"}}}}, "global.proxy.autoInject"),
    ({"revisions": {"canary": {"injectorConfig": {"neverInjectSelector": "x"}}}}, "neverInjectSelector"),
]


def _ids(cases):
    return [(c.values[1] if hasattr(c, "values") else c[1]) for c in cases]


def _check(spec: dict, path: str, tmp_path) -> None:
    run = run_inproc(["fn"], dump(resource_list(OBJECTS, sidecar_injector(spec))))
    assert_clean_failure(run, path)
    out = load(run.stdout)
    assert out["items"] == OBJECTS
    errors = [r for r in out["results"] if r["severity"] == "error"]
    assert len(errors) == 1 and path in errors[0]["message"], out["results"]
    config = tmp_path / "config.yaml"
    config.write_text(dump(sidecar_injector(spec)))
    run = run_inproc(["inject", f"--config={config}", "-"], dump_all(OBJECTS))
    assert_clean_failure(run, path)
    assert run.stdout == ""


@pytest.mark.parametrize("spec,path", BAD_CONFIGS, ids=_ids(BAD_CONFIGS))
def test_function_config_errors_name_the_key_path(spec: dict, path: str, tmp_path) -> None:
    _check(spec, path, tmp_path)


@pytest.mark.parametrize("spec,path", BAD_ENUMS, ids=_ids(BAD_ENUMS))
def test_function_config_enum_values(spec: dict, path: str, tmp_path) -> None:
    _check(spec, path, tmp_path)


@pytest.mark.parametrize("config,needle", [
    ({"apiVersion": "kinject.dev/v1", "kind": "SidecarInjector"}, "apiVersion"),
    ({"apiVersion": "kinject.dev/v1alpha1", "kind": "Injector"}, "kind"),
    ({"apiVersion": "kinject.dev/v1alpha1", "kind": "SidecarInjector", "spec": [1]}, "functionConfig.spec"),
    ({"apiVersion": "kinject.dev/v1alpha1", "kind": "SidecarInjector", "extra": 1}, "extra"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "data": {"bogus": "1"}}, "functionConfig.data"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "data": {"nativeSidecars": "perhaps"}},
     "functionConfig.data.nativeSidecars"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "data": {"values.global.hub": "[unclosed"}},
     "functionConfig.data.values.global.hub"),
])
def test_function_config_envelope(config: dict, needle: str) -> None:
    assert_clean_failure(run_inproc(["fn"], dump(resource_list(OBJECTS, config))), needle)


def test_config_file_errors(tmp_path) -> None:
    missing = tmp_path / "missing.yaml"
    assert_clean_failure(run_inproc(["inject", f"--config={missing}", "-"], dump_all(OBJECTS)), "missing.yaml")
    two = tmp_path / "two.yaml"
    two.write_text(dump_all([sidecar_injector(), sidecar_injector()]))
    assert_clean_failure(run_inproc(["inject", f"--config={two}", "-"], dump_all(OBJECTS)), "two.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: kinject.dev/v1alpha1\nkind: SidecarInjector\nspec: {a: [\n")
    assert_clean_failure(run_inproc(["inject", f"--config={bad}", "-"], dump_all(OBJECTS)), "bad.yaml")


# ------------------------------------------------------------------------------------------- annotations §1.2

INVALID_ANNOTATIONS = [
    ("sidecar.istio.io/interceptionMode", "BOGUS"),
    ("status.sidecar.istio.io/port", "65536"),
    ("status.sidecar.istio.io/port", "-1"),
    ("status.sidecar.istio.io/port", "http"),
    ("readiness.status.sidecar.istio.io/initialDelaySeconds", "4294967296"),
    ("readiness.status.sidecar.istio.io/periodSeconds", "-5"),
    ("readiness.status.sidecar.istio.io/failureThreshold", "3s"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/33"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "*,10.0.0.0/8"),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "*"),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "example.com/8"),
    ("traffic.sidecar.istio.io/includeInboundPorts", "80,abc"),
    ("traffic.sidecar.istio.io/includeInboundPorts", "65536"),
    ("traffic.sidecar.istio.io/excludeInboundPorts", "*"),
    ("traffic.sidecar.istio.io/excludeOutboundPorts", "x"),
    ("traffic.sidecar.istio.io/excludeInterfaces", "eth0/1"),
    ("istio.io/reroute-virtual-interfaces", "veth 0"),
    ("traffic.sidecar.istio.io/kubevirtInterfaces", "a/b"),
    ("prometheus.istio.io/merge-metrics", "maybe"),
    ("proxy.istio.io/config", "concurrency: -1"),
    ("proxy.istio.io/config", "[1, 2]"),
    ("proxy.istio.io/config", "concurrency: [1"),
    ("proxy.istio.io/config", "holdApplicationUntilProxyStarts: sometimes"),
    ("proxy.istio.io/config", "interceptionMode: BOGUS"),
    ("sidecar.istio.io/proxyCPU", "lots"),
    ("sidecar.istio.io/proxyCPU", "100m\x07"),
    ("sidecar.istio.io/proxyMemory", "1Qi"),
    ("sidecar.istio.io/proxyCPULimit", "-"),
    ("sidecar.istio.io/proxyMemoryLimit", "1Gi\n"),
]

# Istio accepts these: kinject must inject (not be stricter than the injector it replaces).
ACCEPTED_ANNOTATIONS = [
    ("traffic.sidecar.istio.io/includeOutboundPorts", "not-validated"),  # §1.2: not validated by Istio
    ("readiness.status.sidecar.istio.io/applicationPorts", "garbage"),  # §2.4: validated nowhere
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "*"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", ""),
    ("traffic.sidecar.istio.io/includeInboundPorts", "*"),
    ("traffic.sidecar.istio.io/includeInboundPorts", ""),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.0/8,2001:db8::/32"),
    ("status.sidecar.istio.io/port", "0"),
    ("status.sidecar.istio.io/port", "65535"),
    ("readiness.status.sidecar.istio.io/initialDelaySeconds", "4294967295"),
    ("sidecar.istio.io/proxyCPU", "0.5"),
    ("sidecar.istio.io/proxyMemory", "1e3"),
    ("prometheus.istio.io/merge-metrics", "TRUE"),
    ("proxy.istio.io/config", ""),
]


@pytest.mark.parametrize("annotation,value", INVALID_ANNOTATIONS)
def test_invalid_annotation_names_resource_and_setting(annotation: str, value: str) -> None:
    objects = [ENABLED_NS, deployment(name="cart", annotations={annotation: value})]
    run = run_inproc(["fn"], dump(resource_list(objects)))
    assert_clean_failure(run, "cart", annotation)
    out = load(run.stdout)
    assert out["items"] == objects
    errors = [r for r in out["results"] if r["severity"] == "error"]
    assert len(errors) == 1, out["results"]
    assert errors[0]["resourceRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cart",
                                        "namespace": "apps"}
    assert annotation in errors[0]["field"]["path"]
    run = run_inproc(["inject", "-"], dump_all(objects))
    assert_clean_failure(run, "cart", annotation)
    assert run.stdout == ""


@pytest.mark.parametrize("annotation,value", ACCEPTED_ANNOTATIONS)
def test_values_istio_accepts_still_inject(annotation: str, value: str) -> None:
    objects = [ENABLED_NS, deployment(annotations={annotation: value})]
    run = run_inproc(["fn"], dump(resource_list(objects)))
    assert run.code == 0, run.stderr
    assert "istio-proxy" in run.stdout


def test_one_invalid_workload_fails_the_run_and_names_only_itself() -> None:
    objects = [ENABLED_NS, deployment(name="good"),
               deployment(name="bad", annotations={"status.sidecar.istio.io/port": "99999"})]
    run = run_inproc(["fn"], dump(resource_list(objects)))
    assert_clean_failure(run, "bad")
    out = load(run.stdout)
    assert out["items"] == objects, "all or nothing"
    errors = [r for r in out["results"] if r["severity"] == "error"]
    assert [e["resourceRef"]["name"] for e in errors] == ["bad"]


def test_skipped_workloads_are_not_validated() -> None:
    """Istio validates after the decision: a pod that is not injected may carry anything."""
    objects = [namespace("apps"), deployment(annotations={"status.sidecar.istio.io/port": "99999"})]
    run = run_inproc(["fn"], dump(resource_list(objects)))
    assert run.code == 0, run.stderr
