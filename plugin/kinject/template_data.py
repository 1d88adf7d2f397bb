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
from .post.overrides import INIT, VALIDATION
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
    if not image_type:  # no image type asked for: the tag is used as written (e.g. "1.30.3-distroless")
        return f"{hub}/{name}:{tag_text}"
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
    capture = _capture(annotations, proxy_values, pc)
    cni = bool(values.get("pilot", {}).get("cni", {}).get("enabled"))
    proxy_image, init_image = _images(g, annotations, pc)
    metadata_env = sorted((str(k), str(v)) for k, v in (pc.get("proxyMetadata") or {}).items())
    hold = bool(pc.get("holdApplicationUntilProxyStarts")) or bool(proxy_values.get("holdApplicationUntilProxyStarts"))
    agent_level = _ann(annotations, "sidecar.istio.io/agentLogLevel", (g.get("logging") or {}).get("level", ""))
    trust_domain = mesh.get("trustDomain") or g.get("trustDomain") or ""

    def readiness(key: str, value_key: str) -> int:
        return int(_ann(annotations, f"readiness.status.sidecar.istio.io/{key}", proxy_values.get(value_key) or 0))

    settings = {
        "native": native,
        "interception_mode": capture["mode"],
        "tproxy": capture["mode"] == "TPROXY",
        "status_port": capture["status_port"],
        "cni": cni,
        "init_name": VALIDATION if cni else INIT,
        "init_args": _init_args(capture, annotations, values, mesh, uid, agent_level, cni),
        "proxy_args": _proxy_args(annotations, g, agent_level),
        "resources": proxy_resources(values, annotations),
        "lifecycle": _lifecycle(proxy_values, hold, native, capture["status_port"]),
        "hold": hold,
        "proxy_metadata": metadata_env,
        "proxy_security_context": _proxy_security_context(annotations, proxy_values, dict(metadata_env),
                                                          capture["mode"] == "TPROXY", uid, gid),
        "readiness": {"initialDelaySeconds": readiness("initialDelaySeconds", "readinessInitialDelaySeconds"),
                      "periodSeconds": readiness("periodSeconds", "readinessPeriodSeconds"),
                      "failureThreshold": readiness("failureThreshold", "readinessFailureThreshold")},
        "ca_addr": g.get("caAddress") or
        f"istiod{'-' + values['revision'] if values.get('revision') else ''}.{g.get('istioNamespace')}.svc:15012",
        "proxy_config_json": proxy_config_json(pc),
        "mesh_id": g.get("meshID") or trust_domain,
        "trust_domain": trust_domain,
        "hbone": dict(metadata_env).get("ISTIO_META_ENABLE_HBONE") == "true",
        "cni_annotations": _cni_annotations(capture, annotations, values) if cni else [],
        "bootstrap_override": annotations.get("sidecar.istio.io/bootstrapOverride") or "",
        "user_volumes": _named_entries(annotations.get("sidecar.istio.io/userVolume")),
        "user_volume_mounts": _named_entries(annotations.get("sidecar.istio.io/userVolumeMount")),
        "datadog_env": _datadog_env(annotations, proxy_values),
        "otel": _otel_enabled(mesh),
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


def _capture(annotations: dict, proxy_values: dict, pc: dict) -> dict[str, str]:
    """Traffic capture settings: annotation, else values (interception mode: annotation, else ProxyConfig)."""
    status_port = _go_sprint(_ann(annotations, ANN_STATUS_PORT, proxy_values.get("statusPort")))

    def setting(annotation: str, value_key: str) -> str:
        return _go_sprint(_ann(annotations, f"traffic.sidecar.istio.io/{annotation}", proxy_values.get(value_key, "")))

    return {
        "mode": str(_ann(annotations, ANN_INTERCEPTION, pc.get("interceptionMode") or "REDIRECT")),
        "status_port": status_port,
        "include_ranges": setting("includeOutboundIPRanges", "includeIPRanges"),
        "exclude_ranges": setting("excludeOutboundIPRanges", "excludeIPRanges"),
        "include_inbound": setting("includeInboundPorts", "includeInboundPorts"),
        "exclude_inbound": exclude_inbound_port(status_port, setting("excludeInboundPorts", "excludeInboundPorts")),
    }


_OUTBOUND_PORTS = (("-q", "traffic.sidecar.istio.io/includeOutboundPorts", "includeOutboundPorts"),
                   ("-o", "traffic.sidecar.istio.io/excludeOutboundPorts", "excludeOutboundPorts"))


def _init_args(capture: dict, annotations: dict, values: dict, mesh: dict, uid: int, agent_level: str,
               cni: bool) -> list[str]:
    """istio-iptables arguments (reference §2.3.1)."""
    g = values["global"]
    proxy_values = g["proxy"]
    excluded = capture["exclude_inbound"]
    args = ["istio-iptables",
            "-p", _go_sprint(mesh.get("proxyListenPort") or 15001),
            "-z", _go_sprint(mesh.get("proxyInboundListenPort") or 15006),
            "-u", "1337" if capture["mode"] == "TPROXY" else str(uid),
            "-m", capture["mode"],
            "-i", capture["include_ranges"],
            "-x", capture["exclude_ranges"],
            "-b", capture["include_inbound"],
            "-d", f"15090,15021,{excluded}" if excluded else "15090,15021"]
    for flag, key, value_key in _OUTBOUND_PORTS:
        if key in annotations or proxy_values.get(value_key):
            args += [flag, _go_sprint(_ann(annotations, key, proxy_values.get(value_key)))]
    if "istio.io/reroute-virtual-interfaces" in annotations:
        args += ["-k", annotations["istio.io/reroute-virtual-interfaces"]]
    elif "traffic.sidecar.istio.io/kubevirtInterfaces" in annotations:
        args += ["-k", annotations["traffic.sidecar.istio.io/kubevirtInterfaces"]]
    if "traffic.sidecar.istio.io/excludeInterfaces" in annotations:
        args += ["-c", annotations["traffic.sidecar.istio.io/excludeInterfaces"]]
    args.append(f"--log_output_level={agent_level}")
    if g.get("logAsJson"):
        args.append("--log_as_json")
    if cni:
        args += ["--run-validation", "--skip-rule-apply"]
    elif (g.get("proxy_init") or {}).get("forceApplyIptables"):
        args.append("--force-apply")
    if g.get("nativeNftables"):
        args.append("--native-nftables")
    return args


def _proxy_args(annotations: dict, g: dict, agent_level: str) -> list[str]:
    proxy_values = g["proxy"]
    log_level = _ann(annotations, "sidecar.istio.io/logLevel", proxy_values.get("logLevel"))
    component_level = _ann(annotations, "sidecar.istio.io/componentLogLevel", proxy_values.get("componentLogLevel"))
    args = ["proxy", "sidecar", "--domain", f"$(POD_NAMESPACE).svc.{proxy_values.get('clusterDomain')}",
            f"--proxyLogLevel={log_level}", f"--proxyComponentLogLevel={component_level}",
            f"--log_output_level={agent_level}"]
    if (g.get("sts") or {}).get("servicePort"):
        args.append(f"--stsPort={_go_sprint(g['sts']['servicePort'])}")
    if g.get("logAsJson"):
        args.append("--log_as_json")
    if proxy_values.get("outlierLogPath"):
        args.append(f"--outlierLogPath={proxy_values['outlierLogPath']}")
    return args


def _images(g: dict, annotations: dict, pc: dict) -> tuple[str, str]:
    """(proxy image, init image): the annotation image when it has a slash, else hub/name:tag[-type]."""
    annotated = annotations.get(ANN_PROXY_IMAGE) or ""
    proxy_name = annotated if "/" in annotated else str(g["proxy"].get("image") or "proxyv2")
    init_name = annotated if "/" in annotated else str((g.get("proxy_init") or {}).get("image") or "proxyv2")
    pc_type = pc["image"].get("imageType") if isinstance(pc.get("image"), dict) else None
    annotated_type = annotations.get(ANN_PROXY_IMAGE_TYPE)
    return (image_url(g["hub"], proxy_name, g.get("tag"), annotated_type or pc_type or g.get("variant") or ""),
            image_url(g["hub"], init_name, g.get("tag"), annotated_type or g.get("variant") or ""))


def _lifecycle(proxy_values: dict, hold: bool, native: bool, status_port: str) -> dict | None:
    """values lifecycle, else `pilot-agent wait` (classic + hold), else the native drain hook, else none."""
    if proxy_values.get("lifecycle"):
        return proxy_values["lifecycle"]
    if hold and not native:
        return {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}
    if native:
        return {"preStop": {"exec": {"command": ["pilot-agent", "request", f"--debug-port={status_port}",
                                                 "POST", "drain"]}}}
    return None


def _proxy_security_context(annotations: dict, proxy_values: dict, metadata: dict, tproxy: bool, uid: int,
                            gid: int) -> dict:
    cap_net_bind = str(_ann(annotations, "sidecar.istio.io/capNetBindService",
                            _go_sprint(proxy_values.get("capNetBindService")))) == "true"
    if metadata.get("IPTABLES_TRACE_LOGGING") == "true":
        security = {"allowPrivilegeEscalation": True, "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                    "privileged": True, "readOnlyRootFilesystem": True, "runAsGroup": gid,
                    "runAsNonRoot": False, "runAsUser": 0}
    else:
        privileged = bool(proxy_values.get("privileged"))
        adds = (["NET_ADMIN"] if tproxy else []) + (["NET_BIND_SERVICE"] if cap_net_bind else [])
        capabilities = {"add": adds, "drop": ["ALL"]} if adds else {"drop": ["ALL"]}
        security = {"allowPrivilegeEscalation": privileged, "capabilities": capabilities, "privileged": privileged,
                    "readOnlyRootFilesystem": True}
        if tproxy or cap_net_bind:  # needs root
            security.update(runAsGroup=1337, runAsNonRoot=False, runAsUser=0)
        else:
            security.update(runAsGroup=gid, runAsNonRoot=True, runAsUser=uid)
    if proxy_values.get("seccompProfile"):
        security["seccompProfile"] = proxy_values["seccompProfile"]
    return security


def _cni_annotations(capture: dict, annotations: dict, values: dict) -> list[tuple[str, str]]:
    """With the CNI plugin the pod carries its capture settings as annotations (the plugin reads them)."""
    proxy_values = values["global"]["proxy"]
    out = [(ANN_INTERCEPTION, capture["mode"])]
    if capture["include_ranges"]:
        out.append(("traffic.sidecar.istio.io/includeOutboundIPRanges", capture["include_ranges"]))
    if capture["exclude_ranges"]:
        out.append(("traffic.sidecar.istio.io/excludeOutboundIPRanges", capture["exclude_ranges"]))
    out.append(("traffic.sidecar.istio.io/includeInboundPorts", capture["include_inbound"]))
    out.append(("traffic.sidecar.istio.io/excludeInboundPorts", capture["exclude_inbound"]))
    for _, key, value_key in _OUTBOUND_PORTS:
        if key in annotations or proxy_values.get(value_key):
            out.append((key, _go_sprint(_ann(annotations, key, proxy_values.get(value_key)))))
    out.extend((key, annotations[key]) for key in CNI_ECHO[2:] if key in annotations)
    if values.get("pilot", {}).get("cni", {}).get("provider") == "multus":
        out.append((MULTUS_ANNOTATION, append_multus_network(annotations.get(MULTUS_ANNOTATION, ""),
                                                             "default/istio-cni")))
    return out


def _datadog_env(annotations: dict, proxy_values: dict) -> list[tuple[str, str]]:
    if proxy_values.get("tracer") != "datadog" or not annotations.get("apm.datadoghq.com/env"):
        return []
    parsed = _json_map(annotations["apm.datadoghq.com/env"])
    return sorted((str(k), str(v)) for k, v in parsed.items())


def _named_entries(text: str | None) -> list[dict]:
    """`{"name": {...fields}}` JSON (userVolume/userVolumeMount) -> [{"name": name, ...fields}], sorted."""
    return [{"name": name, **(body if isinstance(body, dict) else {})} for name, body in sorted(_json_map(text).items())]


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
