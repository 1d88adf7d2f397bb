"""Argo CD Config Management Plugin: plugin/argocd/plugin.yaml's `init`, `generate` and `discover` run exactly
as argocd-cmp-server runs them (command + args, the app directory as cwd, the sidecar's env plus the build
environment, ARGOCD_ENV_* and PARAM_*), with the real kustomize 4.5.4 on PATH."""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.e2e.helpers import assert_injected, docs, find, injected
from tests.tools import REPO, host_env

PLUGIN = yaml.safe_load((REPO / "plugin" / "argocd" / "plugin.yaml").read_text())


def argocd_env(app_namespace: str, **extra: str) -> dict[str, str]:
    """The sidecar's env (PATH with kustomize and kinject) plus what repo-server sends for one Application."""
    return host_env(
        "kustomize",
        ARGOCD_APP_NAME="shop",
        ARGOCD_APP_NAMESPACE=app_namespace,
        ARGOCD_APP_PROJECT_NAME="default",
        ARGOCD_APP_REVISION="0123456789abcdef0123456789abcdef01234567",
        ARGOCD_APP_REVISION_SHORT="0123456",
        ARGOCD_APP_REVISION_SHORT_8="01234567",
        ARGOCD_APP_SOURCE_PATH="kustomize/overlays/prod",
        ARGOCD_APP_SOURCE_REPO_URL="https://git.example.com/shop.git",
        ARGOCD_APP_SOURCE_TARGET_REVISION="HEAD",
        KUBE_VERSION="1.35.2",
        KUBE_API_VERSIONS="v1,apps/v1,batch/v1",
        **extra,
    )


def run_phase(phase: str, app: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    spec = PLUGIN["spec"][phase]
    argv = [*spec["command"], *spec.get("args", [])]
    return subprocess.run(argv, cwd=app, env=env, text=True, capture_output=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)


def generate(app: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    init = run_phase("init", app, env)
    assert init.returncode == 0, init.stderr
    return run_phase("generate", app, env)


def manifests(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    assert proc.returncode == 0, proc.stderr
    objs = docs(proc.stdout)
    assert objs, "generate printed nothing"
    assert all(o.get("kind") != "ResourceList" for o in objs), "Argo CD needs manifests, not a ResourceList"
    assert all(o.get("apiVersion") and o.get("kind") and o.get("metadata", {}).get("name") for o in objs)
    return objs


@pytest.fixture
def plain_app(tmp_path: Path) -> Path:
    """An app without the kinject transformer and without its Namespace object (the usual Argo CD app)."""
    app = tmp_path / "payments"
    app.mkdir()
    (app / "kustomization.yaml").write_text("resources:\n- api.yaml\n")
    (app / "api.yaml").write_text(textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: payments
        spec:
          selector:
            matchLabels: {app: payments}
          template:
            metadata:
              labels: {app: payments}
            spec:
              containers:
              - name: api
                image: ghcr.io/example/payments:1.0.0
        """))
    return app


def test_plugin_shape() -> None:
    assert PLUGIN["apiVersion"] == "argoproj.io/v1alpha1" and PLUGIN["kind"] == "ConfigManagementPlugin"
    script = PLUGIN["spec"]["generate"]["args"][0]
    assert PLUGIN["spec"]["generate"]["command"][0] == "bash"  # dash has no pipefail
    assert "set -euo pipefail" in script
    assert re.search(r'"\$\{build\[@\]\}" \. 2>"\$err" \\\n\s*\| [^\n]*kinject inject', script)
    assert 'build=(kustomize build)' in script and "--enable-exec" in script
    names = {p["name"] for p in PLUGIN["spec"]["parameters"]["static"]}
    assert {"namespace-labels", "config"} <= names
    for name in names:  # each announced parameter is read by generate
        assert f"PARAM_{name.upper().replace('-', '_')}" in script


def test_generate_kustomize_overlay(repo_copy: Path) -> None:
    app = repo_copy / "kustomize" / "overlays" / "prod"
    objs = manifests(generate(app, argocd_env("shop", KINJECT_CMP_ENABLE_EXEC="true")))
    assert_injected(objs, "frontend", "cart")
    assert find(objs, "Deployment", "frontend")["spec"]["replicas"] == 4


def test_generate_uses_destination_namespace_and_env_labels(plain_app: Path) -> None:
    env = argocd_env("payments", ARGOCD_ENV_KINJECT_NAMESPACE_LABELS="istio-injection=enabled")
    objs = manifests(generate(plain_app, env))
    assert_injected(objs, "payments")
    # without labels for the destination namespace nothing is injected (and generate still succeeds)
    assert not injected(find(manifests(generate(plain_app, argocd_env("payments"))), "Deployment", "payments"))


def test_generate_reads_parameters(plain_app: Path, tmp_path: Path) -> None:
    objs = manifests(generate(plain_app, argocd_env("payments", PARAM_NAMESPACE_LABELS="istio-injection=enabled")))
    assert_injected(objs, "payments")
    # PARAM_CONFIG: a SidecarInjector file in the app that labels the destination namespace
    (plain_app / "mesh.yaml").write_text(textwrap.dedent("""\
        apiVersion: kinject.dev/v1alpha1
        kind: SidecarInjector
        metadata: {name: kinject}
        spec:
          namespaces:
            payments:
              labels: {istio-injection: enabled}
        """))
    assert_injected(manifests(generate(plain_app, argocd_env("payments", PARAM_CONFIG="mesh.yaml"))), "payments")
    assert not injected(find(manifests(generate(plain_app, argocd_env("orders", PARAM_CONFIG="mesh.yaml"))),
                             "Deployment", "payments"))


def test_generate_fails_on_invalid_annotation(repo_copy: Path) -> None:
    app = repo_copy / "kustomize" / "base"
    cart = app / "cart.yaml"
    cart.write_text(cart.read_text().replace("sidecar.istio.io/proxyCPU: 50m",
                                             'traffic.sidecar.istio.io/includeOutboundIPRanges: "10.0.0.0/33"'))
    proc = generate(app, argocd_env("shop", KINJECT_CMP_ENABLE_EXEC="true"))
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "includeOutboundIPRanges" in proc.stderr  # stderr is what the Argo CD UI shows


@pytest.mark.parametrize("application_env", [{}, {"ARGOCD_ENV_KINJECT_CMP_ENABLE_EXEC": "true"}])
def test_repository_code_never_runs_unless_the_admin_allows_it(plain_app: Path, tmp_path: Path,
                                                               application_env: dict) -> None:
    """The sidecar renders every team's apps: an exec KRM function in one app's kustomization must not run
    there. An Application can set ARGOCD_ENV_* variables, so that must not switch it on either."""
    marker = tmp_path / "ran"
    (plain_app / "evil.sh").write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    (plain_app / "evil.sh").chmod(0o755)
    (plain_app / "fn.yaml").write_text(textwrap.dedent("""\
        apiVersion: example.com/v1
        kind: Anything
        metadata:
          name: evil
          annotations:
            config.kubernetes.io/function: |
              exec:
                path: ./evil.sh
        """))
    (plain_app / "kustomization.yaml").write_text("resources:\n- api.yaml\ntransformers:\n- fn.yaml\n")
    env = argocd_env("payments", PARAM_NAMESPACE_LABELS="istio-injection=enabled", **application_env)
    proc = generate(plain_app, env)
    assert not marker.exists(), "repository code ran in the CMP sidecar"
    assert proc.returncode != 0 and proc.stdout == ""
    assert "KINJECT_CMP_ENABLE_EXEC=true in the sidecar's env" in proc.stderr
    # the admin's switch (the sidecar's own env) does run it: the trade-off is theirs to make
    allowed = generate(plain_app, {**env, "KINJECT_CMP_ENABLE_EXEC": "true"})
    assert marker.exists()
    assert_injected(manifests(allowed), "payments")


def test_the_kinject_transformer_fails_clearly_without_the_admin_switch(repo_copy: Path) -> None:
    proc = generate(repo_copy / "kustomize" / "overlays" / "prod", argocd_env("shop"))
    assert proc.returncode != 0 and proc.stdout == ""
    assert "unable to load external plugin 'SidecarInjector'" in proc.stderr
    assert "pass its SidecarInjector file as the 'config' parameter" in proc.stderr


def test_generate_fails_when_kustomize_fails(plain_app: Path) -> None:
    """pipefail: a broken kustomization must not become an empty (prune-everything) manifest list."""
    (plain_app / "kustomization.yaml").write_text("resources:\n- api.yaml\n- missing.yaml\n")
    proc = generate(plain_app, argocd_env("payments", PARAM_NAMESPACE_LABELS="istio-injection=enabled"))
    assert proc.returncode != 0
    assert proc.stdout == ""


def test_generate_fails_on_invalid_parameter(plain_app: Path) -> None:
    proc = generate(plain_app, argocd_env("payments", PARAM_NAMESPACE_LABELS="istio-injection"))
    assert proc.returncode != 0
    assert proc.stdout == ""


def test_generate_fails_clearly_before_argocd_times_out(plain_app: Path, tmp_path: Path) -> None:
    """A render slower than ARGOCD_ENV_KINJECT_TIMEOUT fails with a reason, not Argo CD's opaque deadline."""
    slow = tmp_path / "slow-bin"
    slow.mkdir()
    (slow / "kustomize").write_text("#!/bin/sh\nexec sleep 30\n")
    (slow / "kustomize").chmod(0o755)
    env = argocd_env("payments", ARGOCD_ENV_KINJECT_TIMEOUT="1")
    env["PATH"] = f"{slow}:{env['PATH']}"
    proc = generate(plain_app, env)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "took longer than 1s" in proc.stderr


def test_init_fails_clearly_without_kustomization(tmp_path: Path) -> None:
    proc = run_phase("init", tmp_path, argocd_env("shop"))
    assert proc.returncode != 0 and "no kustomization" in proc.stderr


def test_discover(repo_copy: Path, plain_app: Path) -> None:
    find_cmd = PLUGIN["spec"]["discover"]["find"]["command"]
    env = argocd_env("shop")
    hit = subprocess.run(find_cmd, cwd=repo_copy / "kustomize" / "overlays" / "prod", env=env, text=True,
                         capture_output=True, check=False)
    assert hit.returncode == 0 and hit.stdout.strip() == "", "an overlay holds no SidecarInjector itself"
    hit = subprocess.run(find_cmd, cwd=repo_copy / "kustomize" / "base", env=env, text=True, capture_output=True,
                         check=False)
    assert hit.returncode == 0 and hit.stdout.strip()
    miss = subprocess.run(find_cmd, cwd=plain_app, env=env, text=True, capture_output=True, check=False)
    assert miss.returncode == 0 and miss.stdout.strip() == ""


def test_sidecar_manifest() -> None:
    patch = yaml.safe_load((REPO / "plugin" / "argocd" / "sidecar.yaml").read_text())
    assert patch["kind"] == "Deployment" and patch["metadata"]["name"] == "argocd-repo-server"
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert container["securityContext"]["runAsUser"] == 999
    assert container["securityContext"]["runAsNonRoot"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/var/run/argocd"] == "var-files"
    assert mounts["/home/argocd/cmp-server/plugins"] == "plugins"
    assert mounts["/tmp"] in {v["name"] for v in patch["spec"]["template"]["spec"]["volumes"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KINJECT_CACHE_DIR"].startswith("/tmp/")  # on the sidecar's own emptyDir
    assert "KINJECT_CMP_ENABLE_EXEC" not in env  # repository code stays off unless the admin opts in


def test_dockerfile_serves_the_cmp() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"(?m)^USER 999(:999)?$", dockerfile)
    assert "COPY plugin/argocd/plugin.yaml /home/argocd/cmp-server/config/plugin.yaml" in dockerfile
    assert "/usr/local/bin/kustomize" in dockerfile
