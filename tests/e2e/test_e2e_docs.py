"""README.md shows exactly the commands the end-to-end tests run, and the warnings they back."""

from __future__ import annotations

import pytest

from tests.e2e import commands
from tests.tools import REPO

HOSTS = (REPO / "README.md").read_text()
DOCUMENTED = {
    name: value for name, value in vars(commands).items()
    if name.isupper() and isinstance(value, str) and name not in {"PRECOMMIT_FILES", "PRECOMMIT_DOCS_REPO"}
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_command_is_documented_verbatim(name: str) -> None:
    cmd = DOCUMENTED[name].format(repo=commands.PRECOMMIT_DOCS_REPO) if "{repo}" in DOCUMENTED[name] \
        else DOCUMENTED[name]
    assert cmd in HOSTS, f"README.md must show `{cmd}` (tests/e2e/commands.py {name})"


def test_kubectl_warning() -> None:
    assert "**Warning: `kubectl kustomize` silently skips exec KRM functions.**" in HOSTS


def test_helm4_hook_policy_documented() -> None:
    assert "sidecar.istio.io/inject: \"false\"" in HOSTS and "Hooks." in HOSTS


def test_every_example_in_docs_exists() -> None:
    for path in ("kustomize/base", "kustomize/overlays/prod", "kustomize/kubectl", "tests/e2e/charts/shop",
                 "plugin/argocd/plugin.yaml", "plugin/argocd/sidecar.yaml", "plugin/flux/render.sh",
                 ".pre-commit-hooks.yaml", "Dockerfile"):
        assert path in HOSTS
        assert (REPO / path).exists(), path
