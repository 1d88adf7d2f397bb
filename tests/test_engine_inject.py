"""inject_pod: purity, idempotence, identity, warnings and errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from kinject.errors import InjectionError
from kinject.identity import DeployMeta, deploy_meta, owner_uri, pod_ports_json
from kinject.inject import inject_pod
from kinject.model import PodTemplate, Workload
from kinject.profile import build_profile
from kinject.quantity import canonical_quantity

HUB = {"global": {"hub": "registry.istio.io/testing", "tag": "latest"}}
CORPUS_INPUTS = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "istio" / "inputs"
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob", "Pod",
             "ReplicationController", "DeploymentConfig"}


def corpus_pods() -> list:
    found = []
    for path in sorted(CORPUS_INPUTS.glob("*.yaml")) if CORPUS_INPUTS.is_dir() else []:
        for doc in yaml.safe_load_all(path.read_text()):
            for item in (doc or {}).get("items") or [doc] if doc else []:
                if not isinstance(item, dict) or item.get("kind") not in WORKLOADS:
                    continue
                template = item if item["kind"] == "Pod" else (
                    item["spec"]["jobTemplate"]["spec"]["template"] if item["kind"] == "CronJob"
                    else item["spec"]["template"])
                annotations = (template.get("metadata") or {}).get("annotations") or {}
                if template["spec"].get("hostNetwork") or annotations.get("sidecar.istio.io/inject") == "false" \
                        or "-bad-" in path.name:  # the expected-error inputs
                    continue
                workload = Workload(item["apiVersion"], item["kind"], item["metadata"]["name"],
                                    item["metadata"].get("namespace") or "default")
                found.append(pytest.param(template, workload, id=f"{path.stem}/{item['metadata']['name']}"))
    return found


USER_TEMPLATES = {path.name.split(".")[0]: path.read_text()
                  for path in (Path(__file__).resolve().parents[1] / "fixtures" / "conformance-templates").glob("*.j2")}
PROFILES = {
    "native": build_profile(values_layers=[HUB], templates=USER_TEMPLATES),
    "classic-cni": build_profile(values_layers=[HUB, {"pilot": {"cni": {"enabled": True}}, "global": {"network": "n1"}}],
                                 native_sidecars=False, templates=USER_TEMPLATES),
}


@pytest.mark.parametrize("profile_name", sorted(PROFILES))
@pytest.mark.parametrize("template,workload", corpus_pods())
def test_pure_deterministic_and_idempotent(template: dict, workload: Workload, profile_name: str) -> None:
    profile = PROFILES[profile_name]
    snapshot = copy.deepcopy(template)
    pod = PodTemplate(template.get("metadata") or {}, template["spec"])
    first = inject_pod(pod, workload, profile)
    assert template == snapshot, "inject_pod mutated its input"
    again = inject_pod(pod, workload, profile)
    assert (again.metadata, again.spec) == (first.metadata, first.spec)
    second = inject_pod(PodTemplate(first.metadata, first.spec), workload, profile)
    if "merge-probers" in str(template.get("metadata")) or (
            json.loads(((template.get("metadata") or {}).get("annotations") or {}).get("sidecar.istio.io/status", "{}"))):
        # Input injected earlier by another release/layout: Istio's re-injection keeps old proxy fields once
        # (reinjection-keeps-old-proxy-fields); from then on the output is stable.
        third = inject_pod(PodTemplate(second.metadata, second.spec), workload, profile)
        assert (third.metadata, third.spec) == (second.metadata, second.spec)
    else:
        assert (second.metadata, second.spec) == (first.metadata, first.spec)


def deployment_pod(**annotations: str) -> PodTemplate:
    return PodTemplate({"labels": {"app": "web"}, "annotations": dict(annotations)},
                       {"containers": [{"name": "web", "image": "w", "ports": [{"containerPort": 8080}]}]})


WEB = Workload("apps/v1", "Deployment", "web", "prod")


def env_of(spec: dict) -> dict:
    proxy = next(c for c in spec.get("initContainers", []) + spec.get("containers", []) if c["name"] == "istio-proxy")
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in proxy.get("env", [])}


@pytest.mark.parametrize("name,setting", [("includeipranges", "includeIPRanges"),
                                          ("includeinboundports", "includeInboundPorts"),
                                          ("excludeinboundports", "excludeInboundPorts"),
                                          ("excludeoutboundports", "excludeOutboundPorts")])
def test_corpus_error_inputs_fail_naming_the_setting(name: str, setting: str) -> None:
    path = CORPUS_INPUTS / f"traffic-annotations-bad-{name}.yaml"
    if not path.is_file():
        pytest.skip("conformance corpus not available")
    doc = yaml.safe_load(path.read_text())
    template = doc["spec"]["template"]
    with pytest.raises(InjectionError) as info:
        inject_pod(PodTemplate(template["metadata"], template["spec"]), WEB, PROFILES["native"])
    assert setting in str(info.value)


def test_invalid_annotation_names_annotation_and_setting() -> None:
    with pytest.raises(InjectionError) as info:
        inject_pod(deployment_pod(**{"traffic.sidecar.istio.io/includeOutboundIPRanges": "bad"}), WEB,
                   PROFILES["native"])
    assert "traffic.sidecar.istio.io/includeOutboundIPRanges" in str(info.value)
    assert "includeipranges" in str(info.value).lower()


def test_status_port_zero_warns_about_the_drain_hook() -> None:
    out = inject_pod(deployment_pod(**{"status.sidecar.istio.io/port": "0"}), WEB, PROFILES["native"])
    assert any("debug-port=0" in w for w in out.warnings)
    proxy = next(c for c in out.spec["initContainers"] if c["name"] == "istio-proxy")
    assert "readinessProbe" not in proxy and "startupProbe" not in proxy


def test_only_proxy_container_warns() -> None:
    pod = PodTemplate({}, {"containers": [{"name": "istio-proxy", "image": "auto"}]})
    out = inject_pod(pod, WEB, PROFILES["native"])
    assert out.spec["containers"] == [] and any("no application container" in w for w in out.warnings)


def test_revision_owner_network_and_overrides() -> None:
    profile = build_profile(values_layers=[HUB, {"global": {"network": "n1", "multiCluster": {"clusterName": "c1"}}}],
                            revision="canary")
    out = inject_pod(deployment_pod(), WEB, profile)
    env = env_of(out.spec)
    assert env["CA_ADDR"] == "istiod.istio-system.svc:15012"  # values.revision drives CA_ADDR, not the profile name
    assert env["ISTIO_META_OWNER"] == "kubernetes://apis/apps/v1/namespaces/prod/deployments/web"
    assert list(env)[-2:] == ["ISTIO_META_CLUSTER_ID", "ISTIO_META_NETWORK"]
    assert out.metadata["labels"]["topology.istio.io/network"] == "n1"
    assert out.metadata["annotations"]["istio.io/rev"] == "canary"
    assert json.loads(out.metadata["annotations"]["sidecar.istio.io/status"])["revision"] == "canary"
    revision_values = build_profile(values_layers=[HUB, {"revision": "1-30"}])
    assert env_of(inject_pod(deployment_pod(), WEB, revision_values).spec)["CA_ADDR"] == \
        "istiod-1-30.istio-system.svc:15012"


def test_openshift_uid_comes_from_the_namespace() -> None:
    profile = build_profile(values_layers=[HUB], openshift=True)
    out = inject_pod(deployment_pod(), WEB, profile, {"openshift.io/sa.scc.uid-range": "1000620000/10000",
                                                       "openshift.io/sa.scc.supplemental-groups": "5000-5999"})
    proxy = next(c for c in out.spec["initContainers"] if c["name"] == "istio-proxy")
    assert proxy["securityContext"]["runAsUser"] == 1000629999
    assert proxy["securityContext"]["runAsGroup"] == 5999
    init = out.spec["initContainers"][0]
    assert init["args"][init["args"].index("-u") + 1] == "1000629999"


@pytest.mark.parametrize("metadata,expected", [
    ({"name": "p"}, DeployMeta("p", "ns", "Pod", "v1")),
    ({"name": "web-5d-x", "generateName": "web-5d-", "labels": {"pod-template-hash": "5d"},
      "ownerReferences": [{"controller": True, "kind": "ReplicaSet", "name": "web-5d", "apiVersion": "apps/v1"}]},
     DeployMeta("web", "ns", "Deployment", "apps/v1")),
    ({"generateName": "j-", "ownerReferences": [{"controller": True, "kind": "Job", "name": "cron-28999999",
                                                  "apiVersion": "batch/v1"}]},
     DeployMeta("cron", "ns", "CronJob", "batch/v1")),
    ({"generateName": "r-", "labels": {"deploymentconfig": "dc"},
      "ownerReferences": [{"controller": True, "kind": "ReplicationController", "name": "dc-1", "apiVersion": "v1"}]},
     DeployMeta("dc", "ns", "DeploymentConfig", "v1")),
    ({"name": "x", "ownerReferences": [{"controller": True, "kind": "Bar", "name": "b", "apiVersion": "foo/v1"}]},
     DeployMeta("x", "ns", "Pod", "v1")),  # no generateName: the pod itself
])
def test_deploy_meta_from_bare_pods(metadata: dict, expected: DeployMeta) -> None:
    assert deploy_meta(Workload("v1", "Pod", metadata.get("name", ""), "ns"), metadata) == expected


def test_owner_uri_and_pod_ports() -> None:
    assert owner_uri(DeployMeta("b", "", "Bar", "foo/v1")) == "kubernetes://apis/foo/v1/namespaces/default/bars/b"
    assert owner_uri(DeployMeta("", "ns", "Pod", "v1")) == ""
    spec = {"containers": [{"ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 53, "protocol": "UDP"}]},
                           {"name": "b"}]}
    assert pod_ports_json(spec) == '[\n    {"name":"http","containerPort":80}\n    ,{"containerPort":53,"protocol":"UDP"}\n]'
    assert pod_ports_json({}) == "[\n]"


@pytest.mark.parametrize("value,expected", [("2000m", "2"), ("1024Mi", "1Gi"), ("100m", "100m"), ("0", "0"),
                                            ("1.5", "1500m"), ("3000", "3k"), ("512Mi", "512Mi"), ("1000Ki", "1000Ki")])
def test_quantities_are_spelled_like_go(value: str, expected: str) -> None:
    assert canonical_quantity(value) == expected


def test_resource_annotations_replace_values_resources() -> None:
    out = inject_pod(deployment_pod(**{"sidecar.istio.io/proxyCPU": "4000m"}), WEB, PROFILES["native"])
    for container in out.spec["initContainers"]:
        assert container["resources"] == {"requests": {"cpu": "4"}}


def test_classic_hold_puts_the_proxy_first_with_a_post_start_wait() -> None:
    profile = build_profile(values_layers=[HUB], native_sidecars=False)
    pod = deployment_pod(**{"proxy.istio.io/config": "holdApplicationUntilProxyStarts: true"})
    out = inject_pod(pod, WEB, profile)
    assert [c["name"] for c in out.spec["containers"]] == ["istio-proxy", "web"]
    assert out.spec["containers"][0]["lifecycle"] == {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}
    assert [c["name"] for c in out.spec["initContainers"]] == ["istio-init"]
    assert json.loads(env_of(out.spec)["PROXY_CONFIG"]) == {"holdApplicationUntilProxyStarts": True}


def test_image_type_and_verbatim_image() -> None:
    out = inject_pod(deployment_pod(**{"sidecar.istio.io/proxyImageType": "distroless"}), WEB, PROFILES["native"])
    assert {c["image"] for c in out.spec["initContainers"]} == {"registry.istio.io/testing/proxyv2:latest-distroless"}
    out = inject_pod(deployment_pod(**{"proxy.istio.io/config": "image: {imageType: debug}"}), WEB, PROFILES["native"])
    images = {c["name"]: c["image"] for c in out.spec["initContainers"]}
    assert images == {"istio-init": "registry.istio.io/testing/proxyv2:latest",
                      "istio-proxy": "registry.istio.io/testing/proxyv2:latest-debug"}


def test_interception_none_has_no_init_container_and_classic_layout_is_valid() -> None:
    for native in (True, False):
        profile = build_profile(values_layers=[HUB], native_sidecars=native)
        out = inject_pod(deployment_pod(**{"sidecar.istio.io/interceptionMode": "NONE"}), WEB, profile)
        names = [c["name"] for c in out.spec.get("initContainers", [])]
        assert "istio-init" not in names
        assert ("istio-proxy" in names) == native


@pytest.mark.parametrize("metadata,spec,field", [
    ({"annotations": {"prometheus.io/port": 8080}}, {"containers": []}, 'metadata.annotations["prometheus.io/port"]'),
    ({"labels": ["a"]}, {}, "metadata.labels"),
    ({}, {"containers": [None]}, "spec.containers"),
    ({}, {"containers": [{"image": "x"}]}, "spec.containers[0].name"),
    ({}, {"initContainers": [{"name": "a", "env": {"A": "1"}}]}, "spec.initContainers[0].env"),
    ({}, {"volumes": "x"}, "spec.volumes"),
])
def test_malformed_pods_are_injection_errors(metadata: dict, spec: dict, field: str) -> None:
    with pytest.raises(InjectionError) as info:
        inject_pod(PodTemplate(metadata, spec), WEB, PROFILES["native"])
    assert info.value.field == field


def test_values_of_the_wrong_shape_are_errors_not_crashes() -> None:
    from kinject.errors import TemplateError

    bad_number = build_profile(values_layers=[HUB, {"global": {"proxy": {"readinessPeriodSeconds": "often"}}}])
    with pytest.raises(InjectionError, match="invalid injector values"):
        inject_pod(deployment_pod(), WEB, bad_number)
    removed = build_profile(values_layers=[HUB, {"global": {"multiCluster": None}}])
    with pytest.raises(TemplateError, match="'sidecar'.*multiCluster"):
        inject_pod(deployment_pod(), WEB, removed)
