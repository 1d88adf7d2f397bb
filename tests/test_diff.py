"""kinject diff: what injection would change, per workload, in containers/volumes/labels/annotations terms."""

from __future__ import annotations

import json

import pytest

from test_explain import BUNDLE, ERROR_DOC, INJECTED, SKIPPED, inproc, kinject

from kinject.commands.diff import changes, normalise, summary_lines


@pytest.fixture(scope="module")
def diff_json() -> dict[str, dict]:
    proc = kinject("diff", "-o", "json", "-", stdin=BUNDLE)
    assert proc.returncode == 0, proc.stderr
    return {f"{d['kind']}/{d['name']}": d for d in json.loads(proc.stdout)}


def find(entries: list[dict], **match) -> list[dict]:
    return [e for e in entries if all(e.get(k) == v for k, v in match.items())]


def test_every_workload_has_a_status(diff_json):
    assert {k for k, d in diff_json.items() if d["status"] == "changes"} == INJECTED
    assert {k for k, d in diff_json.items() if d["status"] == "skipped"} == SKIPPED
    assert "hostNetwork" in diff_json["DaemonSet/node-exporter"]["reason"]


def test_containers_volumes_labels_annotations(diff_json):
    c = diff_json["Deployment/frontend"]["changes"]
    added_init = {e["name"] for e in find(c, op="add", what="initContainer", field="")}
    assert added_init == {"istio-init", "istio-proxy"}  # native sidecars by default
    assert "istio-envoy" in {e["name"] for e in find(c, op="add", what="volume", field="")}
    labels = {e["name"]: e["new"] for e in find(c, op="add", what="label")}
    assert labels["security.istio.io/tlsMode"] == "istio"
    assert labels["service.istio.io/canonical-name"] == "frontend"
    assert labels["service.istio.io/canonical-revision"] == "v2"
    port = find(c, op="change", what="annotation", name="prometheus.io/port")
    assert port == [{"op": "change", "what": "annotation", "name": "prometheus.io/port", "field": "",
                     "old": "9090", "new": "15020"}]
    probe = find(c, what="container", name="frontend", field="readinessProbe.httpGet.path")
    assert probe[0]["old"] == "/ready" and probe[0]["new"] == "/app-health/frontend/readyz"
    # a tcpSocket probe becomes an httpGet one
    assert find(c, op="remove", what="container", name="frontend", field="livenessProbe.tcpSocket")
    assert find(c, op="add", what="container", name="frontend", field="livenessProbe.httpGet")
    # the user's app container itself is not reported as added or removed
    assert not find(c, what="container", name="frontend", field="")


def test_created_maps_read_item_by_item(diff_json):
    """redis has no annotations at all: each added annotation is listed, not one opaque map."""
    c = diff_json["StatefulSet/redis"]["changes"]
    names = {e["name"] for e in find(c, op="add", what="annotation")}
    assert {"istio.io/rev", "sidecar.istio.io/status", "prometheus.io/port"} <= names
    assert not find(c, what="annotations map")


def test_cronjob_changes_its_pod_template(diff_json):
    c = diff_json["CronJob/nightly-report"]["changes"]
    assert {e["name"] for e in find(c, op="add", what="initContainer")} == {"istio-init", "istio-proxy"}


def test_readable_output(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(BUNDLE)
    proc = kinject("diff", str(path))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    block = text.split("Deployment shop/frontend\n", 1)[1].split("\nDeployment shop/cart", 1)[0]
    lines = block.splitlines()
    assert lines[0].startswith("  + initContainers: istio-init (docker.io/istio/proxyv2:")
    assert "istio-proxy (docker.io/istio/proxyv2:" in lines[0]
    assert any(line.startswith("  + volumes: workload-socket, ") for line in lines)
    assert any(line.startswith('  + labels: security.istio.io/tlsMode="istio"') for line in lines)
    assert '  ~ annotation prometheus.io/port: "9090" → "15020"' in lines
    assert '  ~ container frontend: readinessProbe.httpGet.path: "/ready" → "/app-health/frontend/readyz"' in lines
    assert "DaemonSet shop/node-exporter: skipped: namespace 'shop' has istio-injection=enabled; the pod uses " \
           "hostNetwork" in text
    assert text.splitlines()[-1] == "5 would change, 0 already current, 5 skipped, 0 errors"
    assert "\x1b[" not in text and path.read_text() == BUNDLE


def test_nothing_to_change_after_injection():
    injected = kinject("inject", "-q", "-", stdin=BUNDLE).stdout
    proc = kinject("diff", "-", stdin=injected)
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[-1] == "0 would change, 5 already current, 5 skipped, 0 errors"
    assert "Deployment shop/frontend: sidecar current, no change" in proc.stdout


def test_stale_sidecar_diff_shows_the_image_change():
    injected = kinject("inject", "-q", "-", stdin=BUNDLE).stdout
    old = injected.replace("docker.io/istio/proxyv2:", "docker.io/istio/proxyv2:old-")
    code, out, err = inproc("diff", "-o", "json", "-", stdin=old)
    assert code == 0, err
    frontend = next(d for d in json.loads(out) if d["name"] == "frontend" and d["kind"] == "Deployment")
    images = find(frontend["changes"], op="change", what="initContainer", field="image")
    assert {e["name"] for e in images} == {"istio-init", "istio-proxy"}
    assert all(e["old"].startswith("docker.io/istio/proxyv2:old-") for e in images)
    assert not find(frontend["changes"], op="add")  # nothing new: only the image moved


def test_errors_exit_1():
    code, out, err = inproc("diff", "-", stdin=BUNDLE + ERROR_DOC)
    assert code == 1
    assert "Deployment shop/broken: error:" in out and "proxyCPU" in out


def test_changes_unit():
    before = {"metadata": {"labels": {"app": "a"}},
              "spec": {"containers": [{"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]}]}}
    after = {"metadata": {"labels": {"app": "a", "l": "v"}, "annotations": {"k": "v"}},
             "spec": {"containers": [{"name": "istio-proxy", "image": "p"},
                                     {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "2"}]}],
                      "volumes": [{"name": "v", "emptyDir": {}}]}}
    c = changes(before, after)
    assert find(c, op="add", what="container", name="istio-proxy", field="")
    assert find(c, op="change", what="container", name="a", field="env.X.value") == [
        {"op": "change", "what": "container", "name": "a", "field": "env.X.value", "old": "1", "new": "2"}]
    assert find(c, op="add", what="label", name="l") and find(c, op="add", what="annotation", name="k")
    assert changes(before, before) == []
    lines = summary_lines(c)
    assert "+ containers: istio-proxy (p)" in lines and '+ labels: l="v"' in lines
    assert normalise(None) == {"metadata": {"labels": {}, "annotations": {}},
                               "spec": {k: {} for k in ("containers", "initContainers", "volumes",
                                                        "imagePullSecrets", "ephemeralContainers")}}
