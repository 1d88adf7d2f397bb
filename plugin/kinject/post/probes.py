"""Application probe rewriting (Istio app_probe.go, reference §2.9).

Probes and lifecycle hooks (httpGet/tcpSocket/grpc) of every app container are redirected to the agent's
status port (`/app-health/<container>/<probe>`), and the original targets are passed to the agent in
ISTIO_KUBE_APP_PROBERS.
"""

from __future__ import annotations

import json
from typing import Any

from .overrides import PROXY

PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"
_PROBES = (("readinessProbe", "readyz"), ("livenessProbe", "livez"), ("startupProbe", "startupz"))
_HOOKS = (("preStop", "prestopz"), ("postStart", "poststartz"))
_HTTP_FIELDS = ("path", "port", "host", "scheme", "httpHeaders")


def _port_value(port: Any) -> int:
    """intstr.IntValue(): an int, or a numeric string, else 0."""
    if isinstance(port, bool):
        return 0
    if isinstance(port, int):
        return port
    try:
        return int(str(port))
    except ValueError:
        return 0


def _prober(handler: dict | None, with_timeout: bool) -> dict | None:
    if not isinstance(handler, dict):
        return None
    out: dict[str, Any] = {}
    if isinstance(handler.get("httpGet"), dict):
        http = handler["httpGet"]
        out["httpGet"] = {k: http[k] for k in _HTTP_FIELDS if http.get(k) not in (None, "", [])}
        out["httpGet"].setdefault("port", http.get("port", 0))
    if isinstance(handler.get("tcpSocket"), dict):
        out["tcpSocket"] = {k: v for k, v in handler["tcpSocket"].items() if v not in (None, "")}
    if isinstance(handler.get("grpc"), dict):
        out["grpc"] = {k: v for k, v in handler["grpc"].items() if v is not None}
    if with_timeout and handler.get("timeoutSeconds"):
        out["timeoutSeconds"] = handler["timeoutSeconds"]
    return out or None


def _resolve(prober: dict | None, named_ports: dict[str, int], status_port: int) -> dict | None:
    """Resolve a named port against the container's ports; drop probes already pointing at the agent."""
    if prober is None:
        return None
    if "grpc" in prober:
        return prober
    action = prober.get("httpGet") or prober.get("tcpSocket")
    if action is None:
        return None
    port = action.get("port")
    if isinstance(port, str) and not port.isdigit():
        if port not in named_ports:
            return None
        action["port"] = named_ports[port]
    elif _port_value(port) == status_port:
        return None
    return prober


def _all_containers(spec: dict) -> list[dict]:
    return [c for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
            if isinstance(c, dict) and c.get("name") != PROXY]


def dump_app_probers(spec: dict, status_port: int) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for container in _all_containers(spec):
        name = container.get("name")
        named = {p["name"]: p.get("containerPort") for p in container.get("ports") or []
                 if isinstance(p, dict) and p.get("name")}
        for field, suffix in _PROBES:
            prober = _resolve(_prober(container.get(field), True), named, status_port)
            if prober is not None:
                out[f"/app-health/{name}/{suffix}"] = prober
        lifecycle = container.get("lifecycle") or {}
        for field, suffix in _HOOKS:
            prober = _resolve(_prober(lifecycle.get(field), False), named, status_port)
            if prober is not None:
                out[f"/app-lifecycle/{name}/{suffix}"] = prober
    return out


def _rewritten(handler: Any, url: str, status_port: int) -> dict | None:
    if not isinstance(handler, dict):
        return None
    if isinstance(handler.get("httpGet"), dict):
        if _port_value(handler["httpGet"].get("port")) == status_port:
            return None
        http = dict(handler["httpGet"], port=status_port, path=url)
        if http.get("scheme") == "HTTPS":
            http["scheme"] = "HTTP"
        return dict(handler, httpGet=http)
    for kind in ("tcpSocket", "grpc"):
        if isinstance(handler.get(kind), dict):
            out = {k: v for k, v in handler.items() if k != kind}
            out["httpGet"] = {"path": url, "port": status_port}
            return out
    return None


def rewrite_probes(spec: dict, status_port: int) -> None:
    """Point every app probe/hook at the agent (in place)."""
    for container in _all_containers(spec):
        name = container.get("name")
        for field, suffix in _PROBES:
            new = _rewritten(container.get(field), f"/app-health/{name}/{suffix}", status_port)
            if new is not None:
                container[field] = new
        lifecycle = container.get("lifecycle")
        if isinstance(lifecycle, dict):
            for field, suffix in _HOOKS:
                new = _rewritten(lifecycle.get(field), f"/app-lifecycle/{name}/{suffix}", status_port)
                if new is not None:
                    lifecycle[field] = new


def apply_probe_rewrite(spec: dict, proxy: dict | None, status_port: int) -> None:
    """Record the original probes in the proxy env (merging with an existing value: old entries win), then
    rewrite them. Callers check the rewrite flag first."""
    if proxy is None:
        return
    probers = dump_app_probers(spec, status_port)
    if probers:
        env = proxy.setdefault("env", [])
        existing = next((e for e in env if isinstance(e, dict) and e.get("name") == PROBERS_ENV), None)
        if existing is not None:
            try:
                old = json.loads(existing.get("value") or "{}")
            except ValueError:
                old = {}
            if isinstance(old, dict):
                probers.update(old)
            existing["value"] = json.dumps(probers, sort_keys=True, separators=(",", ":"))
            existing.pop("valueFrom", None)
        else:
            env.append({"name": PROBERS_ENV, "value": json.dumps(probers, sort_keys=True, separators=(",", ":"))})
    rewrite_probes(spec, status_port)
