"""Flux pre-render (plugin/flux/render.sh): Flux controllers run no KRM functions, so overlays are rendered in
CI with kustomize + kinject and committed or pushed with `flux push artifact`."""

from __future__ import annotations

from pathlib import Path

from tests.e2e import commands
from tests.e2e.helpers import assert_injected, assert_no_bookkeeping, docs, find, ok, sh
from tests.tools import host_env


def test_render_overlay(repo_copy: Path) -> None:
    ok(sh(commands.FLUX_RENDER, cwd=repo_copy, env=host_env("kustomize")))
    out = repo_copy / "rendered" / "kustomize-overlays-prod.yaml"
    text = out.read_text()
    objs = docs(text)
    assert_injected(objs, "frontend", "cart")
    assert find(objs, "Deployment", "frontend")["spec"]["replicas"] == 4
    assert_no_bookkeeping(text)
    assert [p.name for p in out.parent.iterdir()] == [out.name], "no temporary file left behind"


def test_render_several_overlays_and_pipe_mode(repo_copy: Path, tmp_path: Path) -> None:
    app = tmp_path / "payments"
    app.mkdir()
    (app / "kustomization.yaml").write_text("namespace: payments\nresources:\n- api.yaml\n")
    (app / "api.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: payments\nspec:\n  selector:\n"
        "    matchLabels: {app: payments}\n  template:\n    metadata:\n      labels: {app: payments}\n"
        "    spec:\n      containers:\n      - {name: api, image: 'ghcr.io/example/payments:1.0.0'}\n")
    env = host_env("kustomize", KINJECT_PIPE="1", KINJECT_ARGS="--namespace=payments --namespace-labels=istio-injection=enabled")
    ok(sh(f"plugin/flux/render.sh rendered kustomize/base {app}", cwd=repo_copy, env=env))
    assert_injected(docs((repo_copy / "rendered" / "kustomize-base.yaml").read_text()), "frontend")
    name = str(app).strip("/").replace("/", "-") + ".yaml"
    assert_injected(docs((repo_copy / "rendered" / name).read_text()), "payments")


def test_render_fails_loudly_and_keeps_the_previous_output(repo_copy: Path) -> None:
    env = host_env("kustomize")
    ok(sh(commands.FLUX_RENDER, cwd=repo_copy, env=env))
    out = repo_copy / "rendered" / "kustomize-overlays-prod.yaml"
    good = out.read_text()
    cart = repo_copy / "kustomize" / "base" / "cart.yaml"
    cart.write_text(cart.read_text().replace("sidecar.istio.io/proxyCPU: 50m",
                                             'traffic.sidecar.istio.io/includeOutboundIPRanges: "10.0.0.0/33"'))
    proc = sh(commands.FLUX_RENDER, cwd=repo_copy, env=env)
    assert proc.returncode != 0
    assert "FAILED to render kustomize/overlays/prod" in proc.stderr
    assert "includeOutboundIPRanges" in proc.stderr
    assert out.read_text() == good
    assert [p.name for p in out.parent.iterdir()] == [out.name]
