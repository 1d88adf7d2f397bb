"""kinject check: exit 0 when every sidecar the policy wants is present and current, else exit 1 and list
what is missing, stale (other image, settings, templates; edited after injection) or unwanted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from test_explain import BUNDLE, ERROR_DOC, INJECTED, inproc, kinject

from kinject.commands.precommit import run_check_hook


def inject(text: str, *args: str) -> str:
    proc = kinject("inject", "-q", *args, "-", stdin=text)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def injected() -> str:
    return inject(BUNDLE)


def states(stdout: str) -> dict[str, str]:
    data = json.loads(stdout)
    return {f"{w['kind']}/{w['name']}": w["state"] for w in data["workloads"]}


def test_uninjected_bundle_fails_listing_each_missing_sidecar(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(BUNDLE)
    proc = kinject("check", str(path))
    assert proc.returncode == 1
    failed = [line for line in proc.stdout.splitlines() if line.startswith("✗")]
    assert len(failed) == len(INJECTED)
    assert any(f"✗ Deployment shop/frontend ({path}): no sidecar (run kinject inject)" == line for line in failed)
    assert "node-exporter" not in proc.stdout and "batch-admin" not in proc.stdout  # skipped: nothing to say
    assert proc.stdout.splitlines()[-1] == ("kinject check failed: 0 current, 5 missing, 0 stale, 0 unwanted, "
                                            "0 errors, 5 not injected")
    assert path.read_text() == BUNDLE  # changes nothing


def test_injected_bundle_passes(injected):
    proc = kinject("check", "-", stdin=injected)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("✓ every sidecar is current: 5 current, 0 missing")


def test_json_output(injected):
    proc = kinject("check", "-o", "json", "-", stdin=injected)
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert data["ok"] is True
    assert {k for k, s in states(proc.stdout).items() if s == "current"} == INJECTED
    assert {s for k, s in states(proc.stdout).items() if k not in INJECTED} == {"skipped"}
    proc = kinject("check", "-o", "json", "-", stdin=BUNDLE)
    assert proc.returncode == 1 and json.loads(proc.stdout)["ok"] is False
    assert {k for k, s in states(proc.stdout).items() if s == "missing"} == INJECTED


def test_stale_proxy_image(injected):
    old = injected.replace("docker.io/istio/proxyv2:", "docker.io/istio/proxyv2:1.29.0-was-")
    proc = kinject("check", "-", stdin=old)
    assert proc.returncode == 1
    lines = [line for line in proc.stdout.splitlines() if line.startswith("✗")]
    assert len(lines) == len(INJECTED)
    assert all("stale sidecar: re-injection would change it" in line and "image" in line for line in lines)


def test_stale_after_a_settings_change(injected, tmp_path):
    config = tmp_path / "mesh.yaml"
    config.write_text(yaml.safe_dump({
        "apiVersion": "kinject.dev/v1alpha1", "kind": "SidecarInjector", "metadata": {"name": "mesh"},
        "spec": {"values": {"global": {"proxy": {"resources": {"requests": {"cpu": "250m"}}}}}},
    }))
    proc = kinject("check", "--config", str(config), "-o", "json", "-", stdin=injected)
    assert proc.returncode == 1
    # cart sets its own proxy CPU (sidecar.istio.io/proxyCPU): the new default does not concern it
    assert {k for k, s in states(proc.stdout).items() if s == "stale"} == INJECTED - {"Deployment/cart"}
    assert states(proc.stdout)["Deployment/cart"] == "current"
    details = [w["detail"] for w in json.loads(proc.stdout)["workloads"] if w["state"] == "stale"]
    assert all("cpu" in d or "resources" in d for d in details), details
    # injected with that config, the same check passes
    assert kinject("check", "--config", str(config), "-", stdin=inject(BUNDLE, "--config", str(config))).returncode == 0


def test_one_missing_among_current_ones(injected):
    extra = """---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: shop
spec:
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels: {app: checkout}
    spec:
      containers:
      - name: checkout
        image: example/checkout:1
"""
    proc = kinject("check", "-o", "json", "-", stdin=injected + extra)
    assert proc.returncode == 1
    assert [k for k, s in states(proc.stdout).items() if s not in ("current", "skipped")] == ["Deployment/checkout"]


def test_unwanted_sidecar(injected):
    data = [d for d in yaml.safe_load_all(injected)]
    frontend = next(d for d in data if d["kind"] == "Deployment" and d["metadata"]["name"] == "frontend")
    frontend["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"
    proc = kinject("check", "-", stdin=yaml.safe_dump_all(data, sort_keys=False))
    assert proc.returncode == 1
    line = next(line for line in proc.stdout.splitlines() if "frontend" in line)
    assert "carries a sidecar but the policy skips it" in line and "inject=false" in line
    assert "kinject uninject" in line


def test_errors_fail_the_check(injected):
    code, out, err = inproc("check", "-", stdin=injected + ERROR_DOC)
    assert code == 1
    assert "✗ Deployment shop/broken" in out and "proxyCPU" in out


def test_in_process_and_resource_list(injected):
    items = [d for d in yaml.safe_load_all(injected)]
    rl = yaml.safe_dump({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": items})
    code, out, err = inproc("check", "-", stdin=rl)
    assert code == 0, out + err


def test_precommit_check_hook(tmp_path, injected, monkeypatch, capfd):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(injected)
    bad.write_text(BUNDLE)
    values = tmp_path / "values.yaml"
    values.write_text("replicas: 3\n")  # not a manifest: ignored by the hook
    assert run_check_hook([str(good), str(values)]) == 0
    assert run_check_hook([str(bad)]) == 1
    out = capfd.readouterr().out
    assert "no sidecar" in out and str(bad) in out
    assert bad.read_text() == BUNDLE and good.read_text() == injected
