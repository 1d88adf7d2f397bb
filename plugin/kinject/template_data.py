"""The template data object (Istio's SidecarTemplateData, reference §2.1), in two parts:

* `TemplateData.shared`: what a render depends on besides the workload's identity — derived settings (`s`),
  images, uid/gid, the pod's template-relevant annotations. It is JSON-serialisable and is the render cache key;
* `TemplateData.identity`: per-workload strings (names, owner, ports...), see identity.py.

Built-in templates read `values`, `mesh`, the shared part and `id`. User templates also get the whole `pod`
(metadata/spec after the re-injection strip) and real identity values, so their cache key covers everything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import InjectionError
from .identity import app_container_names, workload_identity
from .model import Workload
from .profile import Profile
from .proxyconfig import effective_proxy_config, proxy_config_json
from .quantity import canonical_quantity
from .validate import parse_bool

ANN_PROXY_IMAGE = "sidecar.istio.io/proxyImage"
ANN_PROXY_IMAGE_TYPE = "sidecar.istio.io/proxyImageType"
ANN_INTERCEPTION = "sidecar.istio.io/interceptionMode"
ANN_STATUS_PORT = "status.sidecar.istio.io/port"
ANN_NATIVE = "sidecar.istio.io/nativeSidecar"
RESOURCE_ANNOTATIONS = {
    "sidecar.istio.io/proxyCPU": ("requests", "cpu"),
    "sidecar.istio.io/proxyMemory": ("requests", "memory"),
    "sidecar.istio.io/proxyCPULimit": ("limits", "cpu"),
    "sidecar.istio.io/proxyMemoryLimit": ("limits", "memory"),
}
CNI_ECHO = ("traffic.sidecar.istio.io/includeOutboundPorts", "traffic.sidecar.istio.io/excludeOutboundPorts",
            "traffic.sidecar.istio.io/kubevirtInterfaces", "istio.io/reroute-virtual-interfaces",
            "traffic.sidecar.istio.io/excludeInterfaces")
MULTUS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"

# Annotations the built-in templates read (directly or through the derived settings). Only these enter the
# built-in render cache key, so workloads that differ in unrelated annotations share a render.
TEMPLATE_ANNOTATIONS = frozenset({
    ANN_PROXY_IMAGE, ANN_PROXY_IMAGE_TYPE, ANN_INTERCEPTION, ANN_STATUS_PORT, ANN_NATIVE, *RESOURCE_ANNOTATIONS,
    *CNI_ECHO, MULTUS_ANNOTATION, "proxy.istio.io/config",
    "sidecar.istio.io/logLevel", "sidecar.istio.io/componentLogLevel", "sidecar.istio.io/agentLogLevel",
    "sidecar.istio.io/capNetBindService", "sidecar.istio.io/bootstrapOverride",
    "sidecar.istio.io/userVolume", "sidecar.istio.io/userVolumeMount",
    "readiness.status.sidecar.istio.io/initialDelaySeconds", "readiness.status.sidecar.istio.io/periodSeconds",
    "readiness.status.sidecar.istio.io/failureThreshold",
    "traffic.sidecar.istio.io/includeOutboundIPRanges", "traffic.sidecar.istio.io/excludeOutboundIPRanges",
    "traffic.sidecar.istio.io/includeInboundPorts", "traffic.sidecar.istio.io/excludeInboundPorts",
    "apm.datadoghq.com/env", "kubectl.kubernetes.io/default-container",
    "kubectl.kubernetes.io/default-logs-container",
})


# Shared fields a built-in template does not read: left out of its context and of its cache key, so e.g.
# workloads with different container names share one sidecar render.
UNUSED_BY_TEMPLATE: dict[str, frozenset[str]] = {
    "sidecar": frozenset({"container_names"}),
    "gateway": frozenset({"container_names"}),
}


@dataclass
class TemplateData:
    shared: dict[str, Any]
    identity: dict[str, str]
    pod: dict[str, Any]
    # What `shared` is a function of, besides the profile and `container_names` (the built-in cache key).
    key: tuple = ()


def native_for_pod(profile: Profile, annotations: dict) -> bool:
    """Template view: the annotation wins; any value other than "false" counts as native."""
    value = annotations.get(ANN_NATIVE)
    if value is None:
        return profile.native_sidecars
    return value != "false"


def native_move_enabled(profile: Profile, annotations: dict) -> bool:
    """Go view used to move a user istio-proxy into initContainers: needs exactly "true" (or the flag)."""
    value = annotations.get(ANN_NATIVE)
    if value == "true":
        return True
    if value == "false":
        return False
    return profile.native_sidecars


def image_url(hub: str, name: str, tag: Any, image_type: str) -> str:
    """`<hub>/<name>:<tag>[-<type>]`; a name with a slash is used verbatim (reference §2.3.4)."""
    if "/" in name:
        return name
    tag_text = _go_sprint(tag)
    for suffix in ("-distroless", "-debug"):
        if tag_text.endswith(suffix):
            tag_text = tag_text[: -len(suffix)]
    if image_type and image_type != "default":
        tag_text = f"{tag_text}-{image_type}"
    return f"{hub}/{name}:{tag_text}"


def _go_sprint(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _ann(annotations: dict, key: str, default: Any) -> Any:
    """Istio's `annotation` helper: the value when the key is present (even ""), else the default."""
    return annotations[key] if key in annotations else default


def exclude_inbound_port(status_port: str, excluded: str) -> str:
    """`excludeInboundPort`: add the status port to the excluded inbound ports unless it is 0 or present."""
    excluded = str(excluded)
    status_port = status_port.strip()
    if status_port in ("", "0") or status_port in excluded.split(","):
        return excluded
    return ",".join([*(p.strip() for p in excluded.split(",") if p.strip()), status_port])


def proxy_resources(values: dict, annotations: dict) -> dict | None:
    """Resources of istio-proxy and istio-init: the four annotations if any is set, else the values block."""
    if any(key in annotations for key in RESOURCE_ANNOTATIONS):
        out: dict[str, dict[str, str]] = {}
        for key, (section, resource) in RESOURCE_ANNOTATIONS.items():
            if annotations.get(key):
                out.setdefault(section, {})[resource] = canonical_quantity(annotations[key])
        return out or None
    configured = values["global"]["proxy"].get("resources") or {}
    out = {}
    for section, entries in configured.items():
        if isinstance(entries, dict):
            kept = {name: canonical_quantity(q) for name, q in entries.items() if q is not None}
            if kept:
                out[section] = kept
        elif entries is not None:
            out[section] = entries
    return out or None


def _otel_enabled(mesh: dict) -> bool:
    for provider in mesh.get("extensionProviders") or []:
        otel = provider.get("opentelemetry") if isinstance(provider, dict) else None
        if isinstance(otel, dict) and otel.get("serviceAttributeEnrichment") == "OTEL_SEMANTIC_CONVENTIONS":
            return True
    return False


def openshift_ids(namespace_annotations: dict | None) -> tuple[int, int] | None:
    """UID/GID from the namespace's SCC annotations: the max of the first range (`start/size` or `start-end`)."""
    annotations = namespace_annotations or {}

    def range_max(text: str | None) -> int | None:
        if not text:
            return None
        first = text.split(",")[0].strip()
        try:
            if "/" in first:
                start, size = first.split("/", 1)
                return int(start) + int(size) - 1
            if "-" in first:
                return int(first.split("-", 1)[1])
            return int(first)
        except ValueError:
            return None

    uid = range_max(annotations.get("openshift.io/sa.scc.uid-range"))
    gid = range_max(annotations.get("openshift.io/sa.scc.supplemental-groups")) or uid
    if uid is None:
        return None
    return uid, gid if gid is not None else uid


def build_template_data(profile: Profile, workload: Workload, metadata: dict, spec: dict, *,
                        namespace_annotations: dict | None = None, user_template: bool = False) -> TemplateData:
    annotations = metadata.get("annotations") or {}
    labels = metadata.get("labels") or {}
    relevant = tuple(sorted((k, v) for k, v in annotations.items() if k in TEMPLATE_ANNOTATIONS))
    uid, gid = 1337, 1337
    if profile.openshift:
        ids = openshift_ids(namespace_annotations)
        if ids:
            uid, gid = ids
    try:
        base_settings, base_shared = _pod_settings(profile, relevant, uid, gid)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # Values of the wrong shape (e.g. `global.proxy.readinessPeriodSeconds: often`) end here.
        raise InjectionError(f"invalid injector values or annotations: {type(exc).__name__}: {exc}") from None

    apps = app_container_names(spec)
    identity = workload_identity(workload, metadata, spec, otel=base_settings["otel"])
    flags = {
        "has_app_containers": bool(apps),
        "set_default_container": bool(apps) and "kubectl.kubernetes.io/default-container" not in annotations,
        "set_default_logs_container": bool(apps) and "kubectl.kubernetes.io/default-logs-container" not in annotations,
        "has_workload_name": bool(identity["workload_name"]),
        "has_owner": bool(identity["owner"]),
    }
    shared = {**base_shared, "s": {**base_settings, **flags},
              "container_names": [str(c.get("name")) for c in spec.get("containers") or [] if isinstance(c, dict)]}
    if user_template:
        shared["annotations"] = annotations
        shared["labels"] = labels
        shared["workload"] = {"name": workload.name, "namespace": workload.namespace, "kind": workload.kind,
                              "api_version": workload.api_version}
    return TemplateData(shared=shared, identity=identity, pod={"metadata": metadata, "spec": spec},
                        key=(relevant, uid, gid, tuple(flags.values())))


@lru_cache(maxsize=1024)
def _pod_settings(profile: Profile, relevant: tuple, uid: int, gid: int) -> tuple[dict, dict]:
    """Everything the built-in templates derive from the profile, the template-relevant annotations and the
    uid/gid: the same for every workload with the same inputs, so it is computed once (treat as read-only)."""
    values, mesh = profile.values, profile.mesh
    g = values["global"]
    proxy_values = g["proxy"]
    annotations = dict(relevant)
    pc = effective_proxy_config(mesh.get("defaultConfig") or {}, annotations)
    native = native_for_pod(profile, annotations)

    interception = str(_ann(annotations, ANN_INTERCEPTION, pc.get("interceptionMode") or "REDIRECT"))
    tproxy = interception == "TPROXY"
    status_port = _go_sprint(_ann(annotations, ANN_STATUS_PORT, proxy_values.get("statusPort")))
    cni = bool(values.get("pilot", {}).get("cni", {}).get("enabled"))

    image_type_pc = (pc.get("image") or {}).get("imageType") if isinstance(pc.get("image"), dict) else None
    proxy_image_name = annotations.get(ANN_PROXY_IMAGE) or ""
    proxy_name = proxy_image_name if "/" in proxy_image_name else str(proxy_values.get("image") or "proxyv2")
    init_name = proxy_image_name if "/" in proxy_image_name else str((g.get("proxy_init") or {}).get("image") or "proxyv2")
    type_ann = annotations.get(ANN_PROXY_IMAGE_TYPE)
    proxy_image = image_url(g["hub"], proxy_name, g.get("tag"), type_ann or image_type_pc or g.get("variant") or "")
    init_image = image_url(g["hub"], init_name, g.get("tag"), type_ann or g.get("variant") or "")

    agent_level = _ann(annotations, "sidecar.istio.io/agentLogLevel", (g.get("logging") or {}).get("level", ""))
    status_excluded = exclude_inbound_port(
        status_port, _ann(annotations, "traffic.sidecar.istio.io/excludeInboundPorts",
                          proxy_values.get("excludeInboundPorts", "")))
    include_ranges = _go_sprint(_ann(annotations, "traffic.sidecar.istio.io/includeOutboundIPRanges",
                                     proxy_values.get("includeIPRanges", "")))
    exclude_ranges = _go_sprint(_ann(annotations, "traffic.sidecar.istio.io/excludeOutboundIPRanges",
                                     proxy_values.get("excludeIPRanges", "")))
    include_inbound = _go_sprint(_ann(annotations, "traffic.sidecar.istio.io/includeInboundPorts",
                                      proxy_values.get("includeInboundPorts", "")))
    proxy_listen = _go_sprint(mesh.get("proxyListenPort") or 15001)
    inbound_listen = _go_sprint(mesh.get("proxyInboundListenPort") or 15006)

    init_args = ["istio-iptables", "-p", proxy_listen, "-z", inbound_listen,
                 "-u", "1337" if tproxy else str(uid), "-m", interception, "-i", include_ranges,
                 "-x", exclude_ranges, "-b", include_inbound,
                 "-d", "15090,15021," + status_excluded if status_excluded else "15090,15021"]
    for flag, key, value_key in (("-q", "traffic.sidecar.istio.io/includeOutboundPorts", "includeOutboundPorts"),
                                 ("-o", "traffic.sidecar.istio.io/excludeOutboundPorts", "excludeOutboundPorts")):
        if key in annotations or proxy_values.get(value_key):
            init_args += [flag, _go_sprint(_ann(annotations, key, proxy_values.get(value_key)))]
    if "istio.io/reroute-virtual-interfaces" in annotations:
        init_args += ["-k", annotations["istio.io/reroute-virtual-interfaces"]]
    elif "traffic.sidecar.istio.io/kubevirtInterfaces" in annotations:
        init_args += ["-k", annotations["traffic.sidecar.istio.io/kubevirtInterfaces"]]
    if "traffic.sidecar.istio.io/excludeInterfaces" in annotations:
        init_args += ["-c", annotations["traffic.sidecar.istio.io/excludeInterfaces"]]
    init_args.append(f"--log_output_level={agent_level}")
    if g.get("logAsJson"):
        init_args.append("--log_as_json")
    if cni:
        init_args += ["--run-validation", "--skip-rule-apply"]
    elif (g.get("proxy_init") or {}).get("forceApplyIptables"):
        init_args.append("--force-apply")
    if g.get("nativeNftables"):
        init_args.append("--native-nftables")

    proxy_args = ["proxy", "sidecar", "--domain", f"$(POD_NAMESPACE).svc.{proxy_values.get('clusterDomain')}",
                  f"--proxyLogLevel={_ann(annotations, 'sidecar.istio.io/logLevel', proxy_values.get('logLevel'))}",
                  "--proxyComponentLogLevel="
                  f"{_ann(annotations, 'sidecar.istio.io/componentLogLevel', proxy_values.get('componentLogLevel'))}",
                  f"--log_output_level={agent_level}"]
    if (g.get("sts") or {}).get("servicePort"):
        proxy_args.append(f"--stsPort={_go_sprint(g['sts']['servicePort'])}")
    if g.get("logAsJson"):
        proxy_args.append("--log_as_json")
    if proxy_values.get("outlierLogPath"):
        proxy_args.append(f"--outlierLogPath={proxy_values['outlierLogPath']}")

    hold = bool(pc.get("holdApplicationUntilProxyStarts")) or bool(proxy_values.get("holdApplicationUntilProxyStarts"))
    if proxy_values.get("lifecycle"):
        lifecycle = proxy_values["lifecycle"]
    elif hold and not native:
        lifecycle = {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}
    elif native:
        lifecycle = {"preStop": {"exec": {"command": ["pilot-agent", "request", f"--debug-port={status_port}",
                                                      "POST", "drain"]}}}
    else:
        lifecycle = None

    metadata_env = sorted((str(k), str(v)) for k, v in (pc.get("proxyMetadata") or {}).items())
    cap_net_bind = str(_ann(annotations, "sidecar.istio.io/capNetBindService",
                            _go_sprint(proxy_values.get("capNetBindService")))) == "true"
    if dict(metadata_env).get("IPTABLES_TRACE_LOGGING") == "true":
        security = {"allowPrivilegeEscalation": True, "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                    "privileged": True, "readOnlyRootFilesystem": True, "runAsGroup": gid,
                    "runAsNonRoot": False, "runAsUser": 0}
    else:
        privileged = bool(proxy_values.get("privileged"))
        capabilities: dict[str, list[str]] = {}
        adds = (["NET_ADMIN"] if tproxy else []) + (["NET_BIND_SERVICE"] if cap_net_bind else [])
        if adds:
            capabilities["add"] = adds
        capabilities["drop"] = ["ALL"]
        security = {"allowPrivilegeEscalation": privileged, "capabilities": capabilities, "privileged": privileged,
                    "readOnlyRootFilesystem": True}
        if tproxy or cap_net_bind:
            security.update(runAsGroup=1337, runAsNonRoot=False, runAsUser=0)
        else:
            security.update(runAsGroup=gid, runAsNonRoot=True, runAsUser=uid)
    if proxy_values.get("seccompProfile"):
        security["seccompProfile"] = proxy_values["seccompProfile"]

    def readiness(key: str, value_key: str) -> int:
        return int(_ann(annotations, f"readiness.status.sidecar.istio.io/{key}", proxy_values.get(value_key) or 0))

    cni_annotations: list[tuple[str, str]] = []
    if cni:
        cni_annotations.append((ANN_INTERCEPTION, interception))
        if include_ranges:
            cni_annotations.append(("traffic.sidecar.istio.io/includeOutboundIPRanges", include_ranges))
        if exclude_ranges:
            cni_annotations.append(("traffic.sidecar.istio.io/excludeOutboundIPRanges", exclude_ranges))
        cni_annotations.append(("traffic.sidecar.istio.io/includeInboundPorts", include_inbound))
        cni_annotations.append(("traffic.sidecar.istio.io/excludeInboundPorts", status_excluded))
        for key, value_key in (("traffic.sidecar.istio.io/includeOutboundPorts", "includeOutboundPorts"),
                               ("traffic.sidecar.istio.io/excludeOutboundPorts", "excludeOutboundPorts")):
            if key in annotations or proxy_values.get(value_key):
                cni_annotations.append((key, _go_sprint(_ann(annotations, key, proxy_values.get(value_key)))))
        for key in CNI_ECHO[2:]:
            if key in annotations:
                cni_annotations.append((key, annotations[key]))
        if (values.get("pilot", {}).get("cni", {}).get("provider")) == "multus":
            cni_annotations.append((MULTUS_ANNOTATION,
                                    append_multus_network(annotations.get(MULTUS_ANNOTATION, ""), "default/istio-cni")))

    datadog_env: list[tuple[str, str]] = []
    if proxy_values.get("tracer") == "datadog" and annotations.get("apm.datadoghq.com/env"):
        try:
            parsed = json.loads(annotations["apm.datadoghq.com/env"])
        except ValueError:
            parsed = {}
        if isinstance(parsed, dict):
            datadog_env = sorted((str(k), str(v)) for k, v in parsed.items())

    user_volumes = _json_map(annotations.get("sidecar.istio.io/userVolume"))
    user_mounts = _json_map(annotations.get("sidecar.istio.io/userVolumeMount"))
    otel = _otel_enabled(mesh)
    trust_domain = mesh.get("trustDomain") or g.get("trustDomain") or ""
    settings = {
        "native": native,
        "interception_mode": interception,
        "tproxy": tproxy,
        "status_port": status_port,
        "cni": cni,
        "init_name": "istio-validation" if cni else "istio-init",
        "init_args": init_args,
        "proxy_args": proxy_args,
        "resources": proxy_resources(values, annotations),
        "lifecycle": lifecycle,
        "hold": hold,
        "proxy_metadata": metadata_env,
        "proxy_security_context": security,
        "readiness": {"initialDelaySeconds": readiness("initialDelaySeconds", "readinessInitialDelaySeconds"),
                      "periodSeconds": readiness("periodSeconds", "readinessPeriodSeconds"),
                      "failureThreshold": readiness("failureThreshold", "readinessFailureThreshold")},
        "ca_addr": g.get("caAddress") or
        f"istiod{'-' + values['revision'] if values.get('revision') else ''}.{g.get('istioNamespace')}.svc:15012",
        "proxy_config_json": proxy_config_json(pc),
        "mesh_id": g.get("meshID") or trust_domain,
        "trust_domain": trust_domain,
        "hbone": dict(metadata_env).get("ISTIO_META_ENABLE_HBONE") == "true",
        "cni_annotations": cni_annotations,
        "bootstrap_override": annotations.get("sidecar.istio.io/bootstrapOverride") or "",
        "user_volumes": [{"name": name, **(body if isinstance(body, dict) else {})}
                         for name, body in sorted(user_volumes.items())],
        "user_volume_mounts": [{"name": name, **(body if isinstance(body, dict) else {})}
                               for name, body in sorted(user_mounts.items())],
        "datadog_env": datadog_env,
        "otel": otel,
        "cluster_trust_bundle": str((values.get("pilot", {}).get("env") or {})
                                    .get("ENABLE_CLUSTER_TRUST_BUNDLE_API", "")).lower() == "true",
    }
    shared: dict[str, Any] = {
        "revision": profile.revision,
        "native_sidecars": native,
        "proxy_image": proxy_image,
        "proxy_init_image": init_image,
        "proxy_uid": uid,
        "proxy_gid": gid,
        "inbound_traffic_policy_mode":
            "localhost" if (mesh.get("inboundTrafficPolicy") or {}).get("mode") == "LOCALHOST" else "passthrough",
        "compliance_policy": profile.compliance_policy,
        "proxy_config": pc,
        "annotations": annotations,
    }
    return settings, shared


def _json_map(text: str | None) -> dict:
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def append_multus_network(existing: str, network: str) -> str:
    """Add the istio-cni network to `k8s.v1.cni.cncf.io/networks` (flat list or JSON list)."""
    existing = existing or ""
    if not existing.strip():
        return network
    name = network.split("/", 1)[-1]
    stripped = existing.strip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and any(isinstance(n, dict) and n.get("name") == name for n in parsed):
            return existing
        ns = network.split("/", 1)[0]
        index = stripped.rfind("]")
        return stripped[:index] + f', {{"name": "{name}", "namespace": "{ns}"}}' + stripped[index:]
    parts = [p.strip() for p in existing.split(",")]
    if network in parts or name in parts:
        return existing
    return f"{existing}, {network}"


def parse_rewrite_flag(annotations: dict, default: bool) -> bool:
    value = annotations.get("sidecar.istio.io/rewriteAppHTTPProbers")
    if value is None:
        return default
    try:
        return parse_bool(value)
    except ValueError:
        return default
