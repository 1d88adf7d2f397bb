"""Prometheus metrics merge (reference §2.10)."""

from __future__ import annotations

import json

import pytest

from kinject.errors import InjectionError
from kinject.post.prometheus import PROMETHEUS_ENV, apply_prometheus_merge

MESH = {"enablePrometheusMerge": True, "defaultConfig": {"statusPort": 15020}}
TARGET = {"prometheus.io/port": "15020", "prometheus.io/path": "/stats/prometheus", "prometheus.io/scrape": "true"}


def test_user_scrape_settings_move_to_the_proxy_env() -> None:
    annotations = {"prometheus.io/scrape": "true", "prometheus-io/port": "8080", "prometheus.io.path": "/m", "x": "y"}
    proxy: dict = {"env": []}
    apply_prometheus_merge(annotations, proxy, MESH)
    assert annotations == {"x": "y", **TARGET}
    assert json.loads(proxy["env"][0]["value"]) == {"scrape": "true", "path": "/m", "port": "8080"}
    assert proxy["env"][0]["name"] == PROMETHEUS_ENV


def test_scrape_targets_are_recorded_and_the_annotation_removed() -> None:
    annotations = {"prometheus.istio.io/scrape-targets": "8080:/metrics, 9100:/custom"}
    proxy: dict = {}
    apply_prometheus_merge(annotations, proxy, MESH)
    assert json.loads(proxy["env"][0]["value"]) == {"targets": [{"port": "8080", "path": "/metrics"},
                                                                {"port": "9100", "path": "/custom"}]}
    assert annotations == TARGET


@pytest.mark.parametrize("annotations", [{"prometheus.io/scrape": "false"}, {"prometheus.io.scrape": "F"},
                                         {"prometheus.istio.io/merge-metrics": "false"}])
def test_disabled_merge_leaves_annotations_alone(annotations: dict) -> None:
    before = dict(annotations)
    apply_prometheus_merge(annotations, {}, MESH)
    assert annotations == before


def test_mesh_setting_disables_the_merge() -> None:
    annotations: dict = {}
    apply_prometheus_merge(annotations, {}, {**MESH, "enablePrometheusMerge": False})
    assert annotations == {}


def test_already_merged_pod_is_left_as_is_and_no_proxy_still_sets_annotations() -> None:
    annotations = dict(TARGET)
    proxy: dict = {}
    apply_prometheus_merge(annotations, proxy, MESH)
    assert annotations == TARGET and proxy == {}
    annotations = {}
    apply_prometheus_merge(annotations, None, MESH)
    assert annotations == TARGET


@pytest.mark.parametrize("port", ["15090", "15021", "0", "70000", "http"])
def test_reserved_or_invalid_ports_are_errors(port: str) -> None:
    with pytest.raises(InjectionError, match="prometheus"):
        apply_prometheus_merge({"prometheus.io/port": port}, {}, MESH)
