"""The pod's effective ProxyConfig and its PROXY_CONFIG env value (reference §2.1, §2.3.3).

ProxyConfig = mesh `defaultConfig` merged with the pod annotation `proxy.istio.io/config` (fields replace,
maps such as proxyMetadata merge key by key). PROXY_CONFIG lists only what differs from Istio's defaults,
as protobuf JSON would print it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .profile import DEFAULT_PROXY_CONFIG, merge_proxy_config
from .validate import PROXY_CONFIG as PROXY_CONFIG_ANNOTATION
from .validate import parse_proxy_config_annotation

# Fields dropped from PROXY_CONFIG when equal to DefaultProxyConfig (Istio's cleanProxyConfig).
_CLEANED_WHEN_DEFAULT = ("configPath", "binaryPath", "controlPlaneAuthPolicy", "serviceCluster", "drainDuration",
                         "terminationDrainDuration", "discoveryAddress", "envoyMetricsService",
                         "envoyAccessLogService", "tracing", "proxyAdminPort", "statNameLength", "statusPort",
                         "concurrency")
# protobuf "wrapper"/message fields: printed even when zero/false once set.
_WRAPPER_FIELDS = frozenset({"concurrency", "holdApplicationUntilProxyStarts", "drainDuration",
                             "terminationDrainDuration", "tracing", "image", "readinessProbe", "gatewayTopology",
                             "envoyMetricsService", "envoyAccessLogService", "proxyStatsMatcher", "sds",
                             "privateKeyProvider", "meshId", "proxyHeaders", "fileFlushInterval",
                             "statsCompression"})
_ENUM_ZERO = {"interceptionMode": "REDIRECT", "controlPlaneAuthPolicy": "NONE", "tracingServiceName": "APP_LABEL_AND_NAMESPACE"}
# Proto field order of the common ProxyConfig fields, so PROXY_CONFIG reads like Istio's.
_FIELD_ORDER = ("configPath", "binaryPath", "serviceCluster", "drainDuration", "discoveryAddress",
                "discoveryRefreshDelay", "zipkinAddress", "statsdUdpAddress", "envoyMetricsServiceAddress",
                "proxyAdminPort", "availabilityZone", "controlPlaneAuthPolicy", "customConfigFile",
                "statNameLength", "concurrency", "proxyBootstrapTemplatePath", "interceptionMode", "tracing",
                "sds", "envoyAccessLogService", "envoyMetricsService", "proxyMetadata", "statusPort",
                "extraStatTags", "terminationDrainDuration", "meshId", "readinessProbe", "proxyStatsMatcher",
                "holdApplicationUntilProxyStarts", "caCertificatesPem", "image", "privateKeyProvider",
                "proxyHeaders")


def mesh_status_port(mesh: dict) -> Any:
    """The agent's status port the mesh config sets (`defaultConfig.statusPort`), else Istio's 15020; as
    written in the mesh config (callers convert it)."""
    return (mesh.get("defaultConfig") or {}).get("statusPort") or 15020


def effective_proxy_config(mesh_default: dict, annotations: dict) -> dict:
    annotation = annotations.get(PROXY_CONFIG_ANNOTATION)
    if not annotation:
        return mesh_default
    return merge_proxy_config(mesh_default, parse_proxy_config_annotation(annotation), PROXY_CONFIG_ANNOTATION)


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$")
_DURATION_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _duration_json(value: Any) -> Any:
    """protobuf JSON prints durations in seconds ("1m" -> "60s")."""
    if not isinstance(value, str):
        return value
    match = _DURATION.match(value)
    if not match:
        return value
    seconds = float(match.group(1)) * _DURATION_SECONDS[match.group(2)]
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


def proxy_config_json(pc: dict) -> str:
    """PROXY_CONFIG: protobuf JSON of the fields that differ from the defaults, plus a newline."""
    out: dict[str, Any] = {}
    for key, value in pc.items():
        if key in ("drainDuration", "terminationDrainDuration"):
            value = _duration_json(value)
        if key in _CLEANED_WHEN_DEFAULT and key in DEFAULT_PROXY_CONFIG and \
                _normalised(key, value) == _normalised(key, DEFAULT_PROXY_CONFIG[key]):
            continue
        if key == "proxyMetadata" and not value:
            continue
        if _ENUM_ZERO.get(key) == value:
            continue
        if key not in _WRAPPER_FIELDS and value in ("", 0, False, None, [], {}):
            continue
        out[key] = value
    ordered = {k: out[k] for k in _FIELD_ORDER if k in out}
    ordered.update({k: v for k, v in out.items() if k not in ordered})
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False) + "\n"


def _normalised(key: str, value: Any) -> Any:
    return _duration_json(value) if key in ("drainDuration", "terminationDrainDuration") else value
