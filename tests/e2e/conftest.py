"""End-to-end tests: the real hosts (kustomize, kubectl, Helm 3/4, pre-commit) and the exact contracts of the
ones without a binary here (kpt, Argo CD CMP, Flux pre-render, container function)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

# `tests` may or may not be a package: make `tests.tools` importable either way.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.tools import REPO  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end test that runs a real host tool (see .ci/install-tools)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of the runnable examples (kustomize/, plugin/) so tests can break or rewrite files freely."""
    dst = tmp_path / "repo"
    for sub in ("kustomize", "plugin/argocd", "plugin/flux"):
        src = REPO / sub
        if src.exists():
            shutil.copytree(src, dst / sub)
    return dst
