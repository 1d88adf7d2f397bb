"""`kubectl kustomize` (kubectl 1.35, kustomize v5.7.1 inside): exec KRM functions are skipped silently, the
legacy exec plugin written by `kinject install kustomize-plugin` works."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kinject.commands.install import install_kustomize_plugin
from tests.e2e import commands
from tests.e2e.helpers import assert_injected, assert_no_bookkeeping, docs, find, injected, ok, sh
from tests.tools import host_env

PLUGIN = Path("kinject.dev/v1alpha1/sidecarinjector/SidecarInjector")


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    return host_env("kubectl", KUSTOMIZE_PLUGIN_HOME=str(tmp_path / "kustomize-plugins"))


def test_kubectl_kustomize_runs_the_legacy_plugin(repo_copy: Path, plugin_env: dict[str, str]) -> None:
    installed = ok(sh(commands.KUBECTL_INSTALL_PLUGIN, cwd=repo_copy, env=plugin_env)).strip()
    assert Path(installed) == Path(plugin_env["KUSTOMIZE_PLUGIN_HOME"]) / PLUGIN
    assert os.access(installed, os.X_OK)
    out = ok(sh(commands.KUBECTL_KUSTOMIZE, cwd=repo_copy, env=plugin_env))
    objs = docs(out)
    assert_injected(objs, "frontend", "cart")
    assert find(objs, "Namespace", "shop")
    assert_no_bookkeeping(out)


def test_ci_guard_catches_a_silent_skip(repo_copy: Path, plugin_env: dict[str, str]) -> None:
    ok(sh(commands.KUBECTL_INSTALL_PLUGIN, cwd=repo_copy, env=plugin_env))
    ok(sh(commands.KUBECTL_GUARD, cwd=repo_copy, env=plugin_env))
    proc = sh(commands.KUBECTL_GUARD_SKIPPED, cwd=repo_copy, env=plugin_env)
    assert proc.returncode == 1
    assert "Deployment shop/frontend: no sidecar" in proc.stdout + proc.stderr


def test_legacy_plugin_works_with_a_minimal_path(repo_copy: Path, plugin_env: dict[str, str]) -> None:
    """The plugin calls kinject by absolute path: it works when kubectl runs with a PATH without kinject."""
    ok(sh(commands.KUBECTL_INSTALL_PLUGIN, cwd=repo_copy, env=plugin_env))
    kubectl_dir = str(Path(plugin_env["PATH"].split(os.pathsep)[1]))
    env = {**plugin_env, "PATH": os.pathsep.join([kubectl_dir, "/usr/bin", "/bin"])}
    assert_injected(docs(ok(sh(commands.KUBECTL_KUSTOMIZE, cwd=repo_copy, env=env))), "frontend")


def test_kubectl_silently_skips_exec_functions(repo_copy: Path, plugin_env: dict[str, str]) -> None:
    """Why README.md warns: kustomize/base's exec function is ignored by kubectl, exit 0, nothing injected."""
    proc = sh("kubectl kustomize --enable-alpha-plugins kustomize/base", cwd=repo_copy, env=plugin_env)
    assert proc.returncode == 0, proc.stderr
    objs = docs(proc.stdout)
    frontend = find(objs, "Deployment", "frontend")
    assert not injected(frontend)
    proc = sh("kubectl kustomize --enable-alpha-plugins --enable-exec kustomize/base", cwd=repo_copy, env=plugin_env)
    assert proc.returncode != 0 and "unknown flag" in proc.stderr


def test_kubectl_legacy_plugin_invalid_config_fails(repo_copy: Path, plugin_env: dict[str, str]) -> None:
    ok(sh(commands.KUBECTL_INSTALL_PLUGIN, cwd=repo_copy, env=plugin_env))
    cfg = repo_copy / "kustomize" / "kubectl" / "sidecarinjector.yaml"
    cfg.write_text(cfg.read_text().replace("  defaultNamespace: shop\n", "  defaultNamespace: shop\n  nativeSidecars: sometimes\n"))
    proc = sh(commands.KUBECTL_KUSTOMIZE, cwd=repo_copy, env=plugin_env)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "nativeSidecars" in proc.stderr


def test_kubectl_legacy_plugin_invalid_annotation_fails(repo_copy: Path, plugin_env: dict[str, str]) -> None:
    ok(sh(commands.KUBECTL_INSTALL_PLUGIN, cwd=repo_copy, env=plugin_env))
    app = repo_copy / "kustomize" / "base" / "cart.yaml"
    app.write_text(app.read_text().replace("sidecar.istio.io/proxyCPU: 50m",
                                           'traffic.sidecar.istio.io/includeOutboundIPRanges: "10.0.0.0/33"'))
    proc = sh(commands.KUBECTL_KUSTOMIZE, cwd=repo_copy, env=plugin_env)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "includeOutboundIPRanges" in proc.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"KUSTOMIZE_PLUGIN_HOME": "{tmp}/home", "XDG_CONFIG_HOME": "{tmp}/xdg"}, "{tmp}/home"),
        ({"XDG_CONFIG_HOME": "{tmp}/xdg"}, "{tmp}/xdg/kustomize/plugin"),
        ({"HOME": "{tmp}/user"}, "{tmp}/user/.config/kustomize/plugin"),
    ],
)
def test_kustomize_plugin_default_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      env: dict[str, str], expected: str) -> None:
    for name in ("KUSTOMIZE_PLUGIN_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    path = install_kustomize_plugin(None)
    assert path == Path(expected.format(tmp=tmp_path)) / PLUGIN
    assert os.access(path, os.X_OK)
    # re-installing overwrites atomically and leaves no temporary file behind
    assert install_kustomize_plugin(None) == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["SidecarInjector"]
