"""Prometheus metrics merge (Istio applyPrometheusMerge, reference §2.10).

The agent serves merged app + Envoy metrics on the status port, so the pod's scrape annotations are pointed
at it and the app's own scrape settings are handed to the agent in ISTIO_PROMETHEUS_ANNOTATIONS.
"""

from __future__ import annotations

import json
import re

from ..errors import InjectionError
from ..proxyconfig import mesh_status_port
from ..validate import parse_bool

PROMETHEUS_ENV = "ISTIO_PROMETHEUS_ANNOTATIONS"
MERGE_ANNOTATION = "prometheus.istio.io/merge-metrics"
TARGETS_ANNOTATION = "prometheus.istio.io/scrape-targets"
RESERVED_PORTS = frozenset({15000, 15001, 15004, 15006, 15008, 15020, 15021, 15053, 15090})
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def _sanitised(key: str) -> str:
    """Prometheus label sanitising: `prometheus.io/scrape`, `prometheus.io.scrape`, ... all compare equal."""
    return _INVALID_LABEL_CHARS.sub("_", key)


_SCRAPE, _PORT, _PATH = "prometheus_io_scrape", "prometheus_io_port", "prometheus_io_path"


def _prometheus_keys(annotations: dict) -> dict[str, list[str]]:
    """Sanitised prometheus.io key -> the annotation keys spelling it (only keys that can match)."""
    found: dict[str, list[str]] = {}
    for key in annotations:
        if "prometheus" in key:
            found.setdefault(_sanitised(key), []).append(key)
    return found


def _lookup(annotations: dict, keys: dict[str, list[str]], sanitised: str) -> str | None:
    spellings = keys.get(sanitised)
    return annotations[spellings[0]] if spellings else None


def scrape_enabled(annotations: dict, keys: dict[str, list[str]] | None = None) -> bool:
    keys = _prometheus_keys(annotations) if keys is None else keys
    for key in keys.get(_SCRAPE, []):
        try:
            if not parse_bool(str(annotations[key])):
                return False
        except ValueError:
            pass
    return True


def merge_enabled(annotations: dict, mesh: dict) -> bool:
    if MERGE_ANNOTATION in annotations:
        try:
            return parse_bool(annotations[MERGE_ANNOTATION])
        except ValueError:
            pass
    setting = mesh.get("enablePrometheusMerge")
    return True if setting is None else bool(setting)


def _check_port(port: str, status_port: int, what: str) -> None:
    try:
        number = int(port)
    except ValueError:
        raise InjectionError(f"{what}: prometheus port {port!r} is not a number") from None
    if not 0 < number < 65536 or number == status_port or number in RESERVED_PORTS:
        raise InjectionError(f"{what}: prometheus port {port} is reserved by the sidecar or out of range")


def apply_prometheus_merge(annotations: dict, proxy: dict | None, mesh: dict) -> None:
    """Edit the pod annotations (and the proxy env) in place."""
    keys = _prometheus_keys(annotations)
    if not (scrape_enabled(annotations, keys) and merge_enabled(annotations, mesh)):
        return
    status_port = int(mesh_status_port(mesh))
    target = str(status_port)
    if _lookup(annotations, keys, _PORT) == target:
        return  # already pointed at the agent (re-injection), or the user controls it
    config: dict = {}
    for field, sanitised in (("scrape", _SCRAPE), ("path", _PATH), ("port", _PORT)):
        value = _lookup(annotations, keys, sanitised)
        if value:
            config[field] = value
    if config.get("port"):
        _check_port(config["port"], status_port, "annotation prometheus.io/port")
    targets_text = annotations.get(TARGETS_ANNOTATION)
    if targets_text:
        targets = []
        for item in targets_text.split(","):
            item = item.strip()
            if not item:
                continue
            port, _, path = item.partition(":")
            _check_port(port.strip(), status_port, f"annotation {TARGETS_ANNOTATION}")
            targets.append({"port": port.strip(), "path": path.strip() or "/metrics"})
        if targets:
            config["targets"] = targets
    if proxy is not None and config:
        proxy.setdefault("env", []).append(
            {"name": PROMETHEUS_ENV, "value": json.dumps(config, separators=(",", ":"))})
    for key in [k for name in (_SCRAPE, _PORT, _PATH) for k in keys.get(name, [])]:
        del annotations[key]
    annotations.pop(TARGETS_ANNOTATION, None)
    annotations["prometheus.io/port"] = target
    annotations["prometheus.io/path"] = "/stats/prometheus"
    annotations["prometheus.io/scrape"] = "true"
