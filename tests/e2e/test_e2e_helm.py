"""Helm 3.17 (`--post-renderer kinject --post-renderer-args inject`) and Helm 4.1 (the `postrenderer/v1`
plugin written by `kinject install helm-plugin`) on a small chart with a hook Job and a `helm test` Pod."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kinject.commands.install import install_helm_plugin
from tests.e2e import commands
from tests.e2e.helpers import assert_injected, docs, find, injected, ok, sh
from tests.tools import REPO, host_env, tool

CHART = REPO / "tests" / "e2e" / "charts" / "shop"


@pytest.fixture
def helm3_env(tmp_path: Path) -> dict[str, str]:
    """Helm 3 as `helm` on PATH (it is installed as helm3 next to Helm 4)."""
    shim = tmp_path / "helm3-bin"
    shim.mkdir()
    (shim / "helm").symlink_to(tool("helm3"))
    env = host_env(HELM_CONFIG_HOME=str(tmp_path / "cfg"), HELM_CACHE_HOME=str(tmp_path / "cache"),
                   HELM_DATA_HOME=str(tmp_path / "data"))
    env["PATH"] = os.pathsep.join([str(shim), env["PATH"]])
    return env


@pytest.fixture
def helm4_env(tmp_path: Path) -> dict[str, str]:
    return host_env("helm", HELM_CONFIG_HOME=str(tmp_path / "cfg"), HELM_CACHE_HOME=str(tmp_path / "cache"),
                    HELM_DATA_HOME=str(tmp_path / "data"), HELM_PLUGINS=str(tmp_path / "plugins"))


def _break(cmd: str) -> str:
    return cmd.replace("helm template shop tests/e2e/charts/shop",
                       "helm template shop tests/e2e/charts/shop"
                       " --set-string 'podAnnotations.traffic\\.sidecar\\.istio\\.io/includeOutboundIPRanges=10.0.0.0/33'")


# ----------------------------------------------------------------------------------------------- Helm 3


def test_helm3_post_renderer_injects(helm3_env: dict[str, str]) -> None:
    out = ok(sh(commands.HELM3_TEMPLATE, cwd=REPO, env=helm3_env))
    objs = docs(out)
    assert_injected(objs, "shop-frontend")
    assert find(objs, "Service", "shop-frontend")
    # Helm 3 does not send hooks to the post-renderer: they come out as the chart wrote them
    assert not injected(find(objs, "Pod", "shop-test-connection"))
    assert not injected(find(objs, "Job", "shop-migrate", ))
    assert "# Source: shop/templates/deployment.yaml" in out


def test_helm3_namespace_from_helm_namespace(helm3_env: dict[str, str]) -> None:
    """Objects without a namespace are decided in the release namespace: HELM_NAMESPACE reaches kinject."""
    cmd = ("helm template shop tests/e2e/charts/shop --post-renderer kinject --post-renderer-args inject"
           " --post-renderer-args --config=tests/e2e/charts/shop-injector.yaml")
    injected_ns = docs(ok(sh(cmd, cwd=REPO, env={**helm3_env, "HELM_NAMESPACE": "shop"})))
    assert injected(find(injected_ns, "Deployment", "shop-frontend"))
    other_ns = docs(ok(sh(cmd, cwd=REPO, env={**helm3_env, "HELM_NAMESPACE": "other"})))
    assert not injected(find(other_ns, "Deployment", "shop-frontend"))


def test_helm3_broken_app_fails(helm3_env: dict[str, str]) -> None:
    proc = sh(_break(commands.HELM3_TEMPLATE), cwd=REPO, env=helm3_env)
    assert proc.returncode != 0
    assert "shop-frontend" not in proc.stdout
    assert "includeOutboundIPRanges" in proc.stderr  # Helm 3 shows the post-renderer's stderr


# ----------------------------------------------------------------------------------------------- Helm 4


def test_helm4_plugin_injects_hooks_by_policy(helm4_env: dict[str, str]) -> None:
    installed = ok(sh(commands.HELM4_INSTALL_PLUGIN, cwd=REPO, env=helm4_env)).strip()
    assert Path(installed) == Path(helm4_env["HELM_PLUGINS"]) / "kinject"
    out = ok(sh(commands.HELM4_TEMPLATE, cwd=REPO, env=helm4_env))
    objs = docs(out)
    assert_injected(objs, "shop-frontend")
    # Helm 4 sends hooks: the `helm test` Pod is decided like any pod (injected in an injected namespace) ...
    assert injected(find(objs, "Pod", "shop-test-connection"))
    # ... and the hook Job that opts out with sidecar.istio.io/inject: "false" is left alone
    assert not injected(find(objs, "Job", "shop-migrate"))
    # Helm turns its postrender-filename annotation back into `# Source:` comments: kinject kept it intact
    assert "# Source: shop/templates/deployment.yaml" in out
    assert "postrenderer.helm.sh" not in out


def test_helm4_install_dry_run(helm4_env: dict[str, str]) -> None:
    """`helm install` takes the same flags (client-side dry run: no cluster here)."""
    install_helm_plugin(Path(helm4_env["HELM_PLUGINS"]))
    cmd = commands.HELM4_TEMPLATE.replace("helm template shop", "helm install shop --dry-run=client")
    out = ok(sh(cmd, cwd=REPO, env=helm4_env))
    manifest = out.split("MANIFEST:", 1)[1]
    assert_injected(docs(manifest.split("NOTES:", 1)[0]), "shop-frontend")


def test_helm4_plugin_accepts_helm3_style_args(helm4_env: dict[str, str]) -> None:
    install_helm_plugin(Path(helm4_env["HELM_PLUGINS"]))
    cmd = commands.HELM3_TEMPLATE  # `--post-renderer-args inject ...` as written for Helm 3
    assert_injected(docs(ok(sh(cmd, cwd=REPO, env=helm4_env))), "shop-frontend")


def test_helm4_namespace_from_helm_namespace(helm4_env: dict[str, str]) -> None:
    install_helm_plugin(Path(helm4_env["HELM_PLUGINS"]))
    cmd = ("helm template shop tests/e2e/charts/shop --post-renderer kinject"
           " --post-renderer-args --config=tests/e2e/charts/shop-injector.yaml")
    assert injected(find(docs(ok(sh(cmd, cwd=REPO, env={**helm4_env, "HELM_NAMESPACE": "shop"}))),
                         "Deployment", "shop-frontend"))
    assert not injected(find(docs(ok(sh(cmd, cwd=REPO, env={**helm4_env, "HELM_NAMESPACE": "other"}))),
                             "Deployment", "shop-frontend"))


def test_helm4_broken_app_fails_on_exit_code(helm4_env: dict[str, str]) -> None:
    plugin_dir = install_helm_plugin(Path(helm4_env["HELM_PLUGINS"]))
    proc = sh(_break(commands.HELM4_TEMPLATE), cwd=REPO, env=helm4_env)
    assert proc.returncode != 0
    assert proc.stdout.strip() == ""
    assert 'post-renderer plugin "kinject"' in proc.stderr  # all Helm 4 shows ...
    # ... so the reason is kept where the docs say
    assert "includeOutboundIPRanges" in (plugin_dir / "last-error.log").read_text()


def test_helm_plugin_default_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HELM_PLUGINS", raising=False)
    monkeypatch.setenv("HELM_DATA_HOME", str(tmp_path / "data"))
    assert install_helm_plugin(None) == tmp_path / "data" / "plugins" / "kinject"
    monkeypatch.setenv("HELM_PLUGINS", str(tmp_path / "plugins"))
    plugin = install_helm_plugin(None)
    assert plugin == tmp_path / "plugins" / "kinject"
    assert os.access(plugin / "postrender", os.X_OK)
    assert "type: postrenderer/v1" in (plugin / "plugin.yaml").read_text()
