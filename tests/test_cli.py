"""The command-line contract of the KRM function and the stream filter, run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
KINJECT = str(Path(sys.executable).with_name("kinject"))

RESOURCE_LIST = """\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: shop
    labels:
      istio-injection: enabled
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: cart # the cart
    namespace: shop
  spec:
    template:
      metadata:
        labels: {app: cart}
      spec:
        containers:
        - name: cart
          image: example/cart:1.0
"""


def run(args, stdin="", env=None):
    return subprocess.run([KINJECT, *args], input=stdin, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_no_arguments_on_a_pipe_is_the_function():
    """kustomize before v5.7 ignores exec.args: `exec: {path: kinject}` must work."""
    bare, fn = run([], RESOURCE_LIST), run(["fn"], RESOURCE_LIST)
    assert bare.returncode == fn.returncode == 0
    assert bare.stdout == fn.stdout
    out = yaml.safe_load(fn.stdout)
    assert out["apiVersion"] == "config.kubernetes.io/v1" and out["kind"] == "ResourceList"
    pod = out["items"][1]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["istio-init", "istio-proxy"]
    assert "# the cart" in fn.stdout
    assert out["results"][0]["severity"] == "info"
    assert out["results"][0]["resourceRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cart",
                                                 "namespace": "shop"}


def test_v1beta1_and_json_keep_their_apiversion_and_come_out_as_block_yaml():
    doc = yaml.safe_load(RESOURCE_LIST)
    doc["apiVersion"] = "config.kubernetes.io/v1beta1"
    proc = run(["fn"], json.dumps(doc))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("apiVersion: config.kubernetes.io/v1beta1\n")
    assert "{" not in proc.stdout.split("\n")[2]  # block style, not JSON
    assert yaml.safe_load(proc.stdout)["items"][1]["spec"]["template"]["spec"]["initContainers"]


@pytest.mark.parametrize(
    "stdin,message",
    [
        ("", "expected one ResourceList document"),
        ("apiVersion: v1\nkind: ConfigMap\n", "not a ResourceList"),
        ("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [\n", "invalid YAML at line"),
        ("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- just a string\n", "items[0]"),
        ("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- metadata: {name: x}\n", "no kind"),
    ],
)
def test_bad_input_is_one_clear_error_and_exit_1(stdin, message):
    proc = run(["fn"], stdin)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_an_invalid_config_still_writes_the_resource_list_with_an_error_result():
    text = RESOURCE_LIST + "functionConfig:\n  apiVersion: kinject.dev/v1alpha1\n  kind: SidecarInjector\n" \
                           "  spec:\n    nativeSidecars: 'yes'\n"
    proc = run(["fn"], text)
    assert proc.returncode == 1
    assert "functionConfig.spec.nativeSidecars" in proc.stderr
    out = yaml.safe_load(proc.stdout)
    assert out["results"][0]["severity"] == "error"
    assert "initContainers" not in out["items"][1]["spec"]["template"]["spec"]  # nothing half-injected


def test_a_configmap_function_config_takes_scalar_keys():
    text = RESOURCE_LIST + "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: function-input}\n" \
                           "  data:\n    nativeSidecars: 'false'\n    values.global.tag: '1.30.3'\n"
    proc = run(["fn"], text)
    assert proc.returncode == 0, proc.stderr
    pod = yaml.safe_load(proc.stdout)["items"][1]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["cart", "istio-proxy"]
    assert pod["containers"][1]["image"].endswith(":1.30.3")


def test_inject_stream_with_namespace_flags_and_helm_namespace():
    stream = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n" \
             "    spec:\n      containers:\n      - name: web\n        image: nginx\n"
    proc = run(["inject", "--namespace-labels", "istio-injection=enabled"], stream, env={"HELM_NAMESPACE": "shop"})
    assert proc.returncode == 0, proc.stderr
    assert 'in namespace "shop" injected' in proc.stderr
    assert "istio-proxy" in proc.stdout
    quiet = run(["inject", "--quiet", "--namespace", "other", "--namespace-labels", "istio-injection=enabled"],
                stream)
    assert quiet.stderr == "" and "istio-proxy" in quiet.stdout
    assert "namespaces/other/deployments/web" in quiet.stdout


def test_inject_refuses_empty_input():
    proc = run(["inject"], "# nothing here\n")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "no Kubernetes objects" in proc.stderr


def test_inject_in_place_rewrites_only_changed_files(tmp_path):
    ns = tmp_path / "ns.yaml"
    ns.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio-injection: enabled\n")
    app = tmp_path / "app.yaml"
    app.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cart\n  namespace: shop\nspec:\n"
                   "  template:\n    spec:\n      containers:\n      - name: cart # keep\n        image: c\n")
    before_ns = ns.read_text()
    proc = run(["inject", "--in-place", "--quiet", str(ns), str(app)])
    assert proc.returncode == 0, proc.stderr
    assert ns.read_text() == before_ns
    assert "istio-proxy" in app.read_text() and "# keep" in app.read_text()
    assert not list(tmp_path.glob(".kinject-*"))


def test_version_names_kinject_and_istio():
    proc = run(["--version"])
    assert proc.returncode == 0
    assert proc.stdout.startswith("kinject ") and "Istio" in proc.stdout
