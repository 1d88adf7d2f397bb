"""Annotation validators (reference §1.2): each annotation with a valid and an invalid value."""

from __future__ import annotations

import pytest

from kinject.errors import InjectionError
from kinject.validate import VALIDATORS, parse_bool, parse_ports, validate_annotations

BILLION_LAUGHS = "proxyMetadata:\n  x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"  x{i}: &a{i} [{', '.join(['*a' if i == 0 else f'*a{i - 1}'] * 10)}]\n" for i in range(8))

CASES = [
    # annotation, valid values, invalid values, setting name the error must contain
    ("sidecar.istio.io/interceptionMode", ["REDIRECT", "TPROXY", "NONE"], ["redirect", "", "FOO"], "interceptionMode"),
    ("status.sidecar.istio.io/port", ["0", "15020", "65535"], ["65536", "-1", "abc", ""], "statusPort"),
    ("readiness.status.sidecar.istio.io/initialDelaySeconds", ["0", "4294967295"], ["4294967296", "1.5"],
     "initialDelaySeconds"),
    ("readiness.status.sidecar.istio.io/periodSeconds", ["15"], ["x"], "periodSeconds"),
    ("readiness.status.sidecar.istio.io/failureThreshold", ["4"], ["-4"], "failureThreshold"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", ["*", "", "10.0.0.0/8,127.0.0.1/24", "fd00::/8"],
     ["bad", "10.0.0.1", "10.0.0.0/33", "*,10.0.0.0/8"], "includeIPRanges"),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", ["", "10.96.0.2/24"], ["*", "bad"], "excludeIPRanges"),
    ("traffic.sidecar.istio.io/includeInboundPorts", ["*", "", "1,2, 3"], ["bad", "70000"], "includeInboundPorts"),
    ("traffic.sidecar.istio.io/excludeInboundPorts", ["", "4,5,6"], ["*", "1,x"], "excludeInboundPorts"),
    ("traffic.sidecar.istio.io/excludeOutboundPorts", ["7,8,9"], ["bad"], "excludeOutboundPorts"),
    ("traffic.sidecar.istio.io/excludeInterfaces", ["eth1", "net1,net2"], ["", "a b", "x" * 16], "excludeInterfaces"),
    ("traffic.sidecar.istio.io/kubevirtInterfaces", ["net1"], ["net 1"], "kubevirtInterfaces"),
    ("istio.io/reroute-virtual-interfaces", ["net0ps2"], [","], "rerouteVirtualInterfaces"),
    ("prometheus.istio.io/merge-metrics", ["true", "False", "0", "T"], ["yes", ""], "mergeMetrics"),
    ("proxy.istio.io/config", ["concurrency: 2", '{"holdApplicationUntilProxyStarts": true}', ""],
     ["- a", "concurrency: x", "proxyMetadata: [1]", "proxyMetadata: {a: [1]}", "holdApplicationUntilProxyStarts: 3",
      "{", "a: 1\n---\nb: 2", BILLION_LAUGHS], "proxyConfig"),
    ("sidecar.istio.io/proxyCPU", ["100m", "2", "0.5"], ["lots", "1x", "10m\n"], "proxyCPU"),
    ("sidecar.istio.io/proxyMemory", ["1Gi", "128Mi"], ["1GB", "Mi"], "proxyMemory"),
    ("sidecar.istio.io/proxyCPULimit", ["2000m"], ["-"], "proxyCPULimit"),
    ("sidecar.istio.io/proxyMemoryLimit", ["2Gi"], ["two"], "proxyMemoryLimit"),
]


def test_every_validated_annotation_is_covered() -> None:
    assert {c[0] for c in CASES} == set(VALIDATORS)


@pytest.mark.parametrize("annotation,valid,invalid,setting", CASES, ids=[c[0] for c in CASES])
def test_validator(annotation: str, valid: list[str], invalid: list[str], setting: str) -> None:
    for value in valid:
        validate_annotations({annotation: value})
    for value in invalid:
        with pytest.raises(InjectionError) as info:
            validate_annotations({annotation: value})
        message = str(info.value)
        assert annotation in message and setting.lower() in message.lower(), message
        assert info.value.field == f'metadata.annotations["{annotation}"]'


def test_unvalidated_annotations_pass_and_include_outbound_ports_is_not_validated() -> None:
    validate_annotations({"traffic.sidecar.istio.io/includeOutboundPorts": "anything", "foo": "bar"})


def test_non_string_value_is_an_error() -> None:
    with pytest.raises(InjectionError, match="must be a string"):
        validate_annotations({"status.sidecar.istio.io/port": 15020})


def test_helpers() -> None:
    assert parse_ports(" 1, 2 ,3") == [1, 2, 3]
    assert parse_ports("") == []
    assert parse_bool("TRUE") is True and parse_bool("f") is False
    with pytest.raises(ValueError):
        parse_bool("yes")
