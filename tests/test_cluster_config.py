"""The cluster's own injector ConfigMaps (as `kubectl get cm -o yaml` prints them) configure the injection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "fixtures" / "cluster-configmaps" / "input.yaml"
KINJECT = str(Path(sys.executable).with_name("kinject"))


def run(args, stdin=""):
    return subprocess.run([KINJECT, *args], input=stdin, capture_output=True, text=True, timeout=60)


def workloads(stream: str) -> dict:
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(stream) if d and d["kind"] in ("Deployment", "Job")}


def proxy(pod_spec: dict) -> dict:
    return next(c for c in pod_spec["initContainers"] if c["name"] == "istio-proxy")


def test_configmaps_in_the_bundle_change_the_output_as_in_that_cluster():
    proc = run(["inject", str(CASE)])
    assert proc.returncode == 0, proc.stderr
    out = workloads(proc.stdout)
    pod = out["dashboard"]["spec"]["template"]["spec"]
    p = proxy(pod)
    assert p["image"] == "registry.example.com/istio/proxyv2:1.30.3-distroless"  # hub and tag from data.values
    assert p["imagePullPolicy"] == "IfNotPresent"
    assert p["resources"] == {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
    env = {e["name"]: e.get("value") for e in p["env"]}
    assert env["ISTIO_META_CLUSTER_ID"] == "prod-eu-1"
    assert env["ISTIO_META_DNS_CAPTURE"] == "true"  # mesh defaultConfig.proxyMetadata from ConfigMap istio
    # the neverInjectSelector of data.config keeps the batch Job out
    job = out["nightly-rollup"]["spec"]["template"]["spec"]
    assert "initContainers" not in job
    assert "nightly-rollup" in proc.stderr and "neverInjectSelector" in proc.stderr
    # Go templates cannot run: a warning names them
    assert "Go templates cannot run" in proc.stderr and "gateway, sidecar" in proc.stderr


def test_the_configmaps_pass_through_unchanged():
    proc = run(["inject", "--quiet", str(CASE)])
    source = CASE.read_text()
    first_two = source.split("\n---\n")[:2]
    assert proc.stdout.split("\n---\n")[:2] == first_two


def test_function_config_wins_over_the_cluster(tmp_path):
    config = tmp_path / "kinject.yaml"
    config.write_text("apiVersion: kinject.dev/v1alpha1\nkind: SidecarInjector\nspec:\n  values:\n"
                      "    global:\n      tag: 1.31.0\n")
    proc = run(["inject", "--quiet", "--config", str(config), str(CASE)])
    assert proc.returncode == 0, proc.stderr
    p = proxy(workloads(proc.stdout)["dashboard"]["spec"]["template"]["spec"])
    assert p["image"] == "registry.example.com/istio/proxyv2:1.31.0"  # hub from the cluster, tag from us


def test_istioctl_style_offline_flags(tmp_path):
    docs = list(yaml.safe_load_all(CASE.read_text()))
    injector, mesh = docs[0], docs[1]
    (tmp_path / "injector.yaml").write_text(yaml.safe_dump(injector))
    (tmp_path / "values.json").write_text(injector["data"]["values"])
    (tmp_path / "mesh.yaml").write_text(mesh["data"]["mesh"])
    apps = yaml.safe_dump_all(docs[2:])
    by_configmap = run(["inject", "--quiet", "--injector-config", str(tmp_path / "injector.yaml"),
                        "--mesh-config", str(tmp_path / "mesh.yaml"), "-"], apps)
    by_raw_values = run(["inject", "--quiet", "--values", str(tmp_path / "values.json"), "-"], apps)
    assert by_configmap.returncode == by_raw_values.returncode == 0
    a = workloads(by_configmap.stdout)
    assert proxy(a["dashboard"]["spec"]["template"]["spec"])["image"].startswith("registry.example.com/istio/")
    assert "initContainers" not in a["nightly-rollup"]["spec"]["template"]["spec"]  # selector from data.config
    b = workloads(by_raw_values.stdout)
    assert proxy(b["dashboard"]["spec"]["template"]["spec"])["image"].startswith("registry.example.com/istio/")
    assert "initContainers" in b["nightly-rollup"]["spec"]["template"]["spec"]  # no data.config: no selector


def test_a_revisioned_configmap_configures_that_revision():
    stream = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-sidecar-injector-canary, namespace: istio-system}
data:
  values: '{"global": {"hub": "canary.example.com/istio", "tag": "1.31.0"}, "revision": "canary"}'
---
apiVersion: v1
kind: Namespace
metadata: {name: edge, labels: {istio.io/rev: canary}}
---
apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: edge}
spec:
  containers:
  - {name: app, image: nginx}
"""
    proc = run(["inject", "--quiet"], stream)
    assert proc.returncode == 0, proc.stderr
    pod = [d for d in yaml.safe_load_all(proc.stdout) if d["kind"] == "Pod"][0]
    p = proxy(pod["spec"])
    assert p["image"] == "canary.example.com/istio/proxyv2:1.31.0"
    assert pod["metadata"]["annotations"]["istio.io/rev"] == "canary"
    env = {e["name"]: e.get("value") for e in p["env"]}
    assert env["CA_ADDR"] == "istiod-canary.istio-system.svc:15012"


def test_offline_files_get_the_input_limits(tmp_path):
    """--values/--mesh-config/--injector-config files are read like any input: an alias bomb or a duplicate
    key is a clear error naming the file, not a blow-up."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    (tmp_path / "bomb.yaml").write_text(bomb)
    (tmp_path / "dup.yaml").write_text("global: {}\nglobal: {hub: x}\n")
    apps = yaml.safe_dump_all(list(yaml.safe_load_all(CASE.read_text()))[2:])
    for name, needle in (("bomb.yaml", "alias"), ("dup.yaml", "duplicate key 'global'")):
        proc = run(["inject", "--quiet", "--values", str(tmp_path / name), "-"], apps)
        assert proc.returncode == 1 and proc.stdout == "", proc.stderr
        assert str(tmp_path / name) in proc.stderr and needle in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
