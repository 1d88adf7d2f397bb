"""Annotation validation: one table, annotation key -> validator (Istio's validate.go, reference §1.2).

Each validator raises ValueError with a message that starts with the underlying setting name
(`includeIPRanges invalid: ...`), because users and the conformance corpus search for that name.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Callable, Mapping

from .errors import InjectionError, InputError
from .limits import safe_load
from .quantity import QuantityError, parse_quantity

_BOOL_WORDS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
               "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
_INTERFACE = re.compile(r"^[A-Za-z0-9_.@:-]{1,15}$")


def parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool."""
    if text not in _BOOL_WORDS:
        raise ValueError(f"{text!r} is not a boolean (true/false)")
    return _BOOL_WORDS[text]


def _uint(text: str, bits: int) -> int:
    if not re.fullmatch(r"\d+", text):
        raise ValueError(f"{text!r} is not an unsigned integer")
    value = int(text)
    if value >= 1 << bits:
        raise ValueError(f"{text!r} is out of range (max {(1 << bits) - 1})")
    return value


def parse_ports(text: str) -> list[int]:
    """A comma-separated port list ("" is an empty list)."""
    text = text.strip()
    if not text:
        return []
    ports = []
    for part in text.split(","):
        try:
            ports.append(_uint(part.strip(), 16))
        except ValueError as exc:
            raise ValueError(f"failed parsing port {part!r}: {exc}") from None
    return ports


def _cidr_list(text: str) -> None:
    if not text:
        return
    for cidr in text.split(","):
        try:
            if "/" not in cidr:
                raise ValueError("missing prefix length")
            ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise ValueError(f"failed parsing cidr {cidr!r}: {exc}") from None


def _named(setting: str, check: Callable[[str], object]) -> Callable[[str], None]:
    def validator(value: str) -> None:
        try:
            check(value)
        except ValueError as exc:
            raise ValueError(f"{setting} invalid: {exc}") from None
    return validator


def _interception_mode(value: str) -> None:
    if value not in ("REDIRECT", "TPROXY", "NONE"):
        raise ValueError(f"interceptionMode invalid: {value!r}, use REDIRECT, TPROXY or NONE")


def _include_ip_ranges(value: str) -> None:
    if value != "*":
        _cidr_list(value)


def _include_inbound_ports(value: str) -> None:
    if value != "*":
        parse_ports(value)


def _interfaces(value: str) -> None:
    for name in value.split(","):
        if not _INTERFACE.match(name.strip()):
            raise ValueError(f"invalid interface name {name!r}")


def _quantity(value: str) -> None:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("contains control characters")
    try:
        parse_quantity(value)
    except QuantityError as exc:
        raise ValueError(str(exc)) from None


def parse_proxy_config_annotation(value: str) -> dict:
    """Parse `proxy.istio.io/config` (YAML or JSON ProxyConfig) into a dict; ValueError if it is not one."""
    try:
        # The input's own limits apply (depth, alias expansion): an alias bomb here is refused, not expanded.
        parsed = safe_load(value, PROXY_CONFIG) if value.strip() else {}
    except InputError as exc:
        raise ValueError(f"proxyConfig invalid: {exc.message}") from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict) or not all(isinstance(k, str) for k in parsed):
        raise ValueError("proxyConfig invalid: must be a mapping of ProxyConfig fields")
    for field in ("proxyMetadata", "runtimeValues"):
        entries = parsed.get(field)
        if entries is not None and (not isinstance(entries, dict) or not all(
                isinstance(v, (str, int, float, bool)) for v in entries.values())):
            raise ValueError(f"proxyConfig invalid: {field} must be a mapping of strings")
    for field in ("concurrency", "statusPort", "proxyAdminPort", "statNameLength"):
        if field in parsed and parsed[field] is not None and (
                isinstance(parsed[field], bool) or not isinstance(parsed[field], int) or parsed[field] < 0):
            raise ValueError(f"proxyConfig invalid: {field} must be a non-negative integer")
    for field in ("holdApplicationUntilProxyStarts",):
        if field in parsed and parsed[field] is not None and not isinstance(parsed[field], bool):
            raise ValueError(f"proxyConfig invalid: {field} must be a boolean")
    if "interceptionMode" in parsed:
        _interception_mode(str(parsed["interceptionMode"]))
    return parsed


PROXY_CONFIG = "proxy.istio.io/config"
VALIDATORS: Mapping[str, Callable[[str], object]] = {
    "sidecar.istio.io/interceptionMode": _interception_mode,
    "status.sidecar.istio.io/port": _named("statusPort", lambda v: _uint(v, 16)),
    "readiness.status.sidecar.istio.io/initialDelaySeconds": _named("initialDelaySeconds", lambda v: _uint(v, 32)),
    "readiness.status.sidecar.istio.io/periodSeconds": _named("periodSeconds", lambda v: _uint(v, 32)),
    "readiness.status.sidecar.istio.io/failureThreshold": _named("failureThreshold", lambda v: _uint(v, 32)),
    "traffic.sidecar.istio.io/includeOutboundIPRanges": _named("includeIPRanges", _include_ip_ranges),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": _named("excludeIPRanges", _cidr_list),
    "traffic.sidecar.istio.io/includeInboundPorts": _named("includeInboundPorts", _include_inbound_ports),
    "traffic.sidecar.istio.io/excludeInboundPorts": _named("excludeInboundPorts", parse_ports),
    "traffic.sidecar.istio.io/excludeOutboundPorts": _named("excludeOutboundPorts", parse_ports),
    "traffic.sidecar.istio.io/excludeInterfaces": _named("excludeInterfaces", _interfaces),
    "traffic.sidecar.istio.io/kubevirtInterfaces": _named("kubevirtInterfaces", _interfaces),
    "istio.io/reroute-virtual-interfaces": _named("rerouteVirtualInterfaces", _interfaces),
    "prometheus.istio.io/merge-metrics": _named("mergeMetrics", parse_bool),
    PROXY_CONFIG: parse_proxy_config_annotation,
    "sidecar.istio.io/proxyCPU": _named("proxyCPU", _quantity),
    "sidecar.istio.io/proxyMemory": _named("proxyMemory", _quantity),
    "sidecar.istio.io/proxyCPULimit": _named("proxyCPULimit", _quantity),
    "sidecar.istio.io/proxyMemoryLimit": _named("proxyMemoryLimit", _quantity),
}


def validate_annotations(annotations: Mapping[str, str]) -> None:
    """Raise InjectionError naming the annotation and the setting for the first invalid value."""
    for key in sorted(annotations):
        validator = VALIDATORS.get(key)
        if validator is None:
            continue
        value = annotations[key]
        if not isinstance(value, str):
            raise InjectionError(f"annotation {key}: value must be a string, got {type(value).__name__}",
                                 field=f'metadata.annotations["{key}"]')
        try:
            validator(value)
        except ValueError as exc:
            raise InjectionError(f"invalid annotation {key}={value!r}: {exc}",
                                 field=f'metadata.annotations["{key}"]') from None
