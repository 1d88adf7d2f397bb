"""pre-commit: the hooks of .pre-commit-hooks.yaml through the real `pre-commit try-repo` / `pre-commit run`
(pre-commit builds a virtualenv from the hook repository, as for a user)."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.e2e import commands
from tests.e2e.helpers import docs, find, injected
from tests.tools import REPO, pre_commit

NAMESPACE = """\
# namespaces of the shop team
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    istio-injection: enabled
"""
SHOP = """\
# storefront
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
  namespace: shop # injected: the Namespace object in namespace.yaml says so
spec:
  selector:
    matchLabels: {app: frontend}
  template:
    metadata:
      labels: {app: frontend}
    spec:
      containers:
      - name: web # the app
        image: nginx:1.27
"""
LEGACY = SHOP.replace("namespace: shop # injected: the Namespace object in namespace.yaml says so",
                      "namespace: legacy # not labelled: left alone").replace("frontend", "batch")
FILES = commands.PRECOMMIT_FILES.split()


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding this working tree's kinject (tracked and not-yet-committed files alike, minus
    what .gitignore excludes), as users clone it."""
    pre_commit()
    dst = tmp_path_factory.mktemp("kinject-hook-repo")
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO).split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not rel.startswith(("tests/", "bench/")):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    git("init", "-q", "-b", "main", cwd=dst)
    git("add", ".", cwd=dst)
    git("commit", "-q", "-m", "snapshot", cwd=dst)
    return dst


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "user"
    (repo / "k8s").mkdir(parents=True)
    (repo / "k8s" / "namespace.yaml").write_text(NAMESPACE)
    (repo / "k8s" / "shop.yaml").write_text(SHOP)
    (repo / "k8s" / "legacy.yaml").write_text(LEGACY)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "manifests", cwd=repo)
    return repo


def run(cmd: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    env.pop("PRE_COMMIT", None)
    return subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True, timeout=600, check=False)


def test_try_repo_kinject_inject(hook_repo: Path, user_repo: Path, tmp_path: Path) -> None:
    cmd = commands.PRECOMMIT_TRY_INJECT.format(repo=hook_repo).split()
    cmd[0] = pre_commit()
    proc = run(cmd, user_repo, tmp_path / "pc-home")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "files were modified by this hook" in proc.stdout
    assert "kinject: injected sidecars into k8s/shop.yaml" in proc.stdout
    shop = (user_repo / "k8s" / "shop.yaml").read_text()
    assert injected(find(docs(shop), "Deployment", "frontend"))
    assert "# storefront" in shop and "# the app" in shop
    assert (user_repo / "k8s" / "legacy.yaml").read_text() == LEGACY
    assert (user_repo / "k8s" / "namespace.yaml").read_text() == NAMESPACE


def test_run_inject_then_check(hook_repo: Path, user_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The flow of a user's repository: check fails, inject fixes (and fails once), then both pass."""
    rev = git("rev-parse", "HEAD", cwd=hook_repo).strip()
    (user_repo / ".pre-commit-config.yaml").write_text(textwrap.dedent(f"""\
        repos:
        - repo: {hook_repo}
          rev: {rev}
          hooks:
          - id: kinject-inject
            files: ^k8s/
          - id: kinject-check
            files: ^k8s/
        """))
    home = tmp_path_factory.mktemp("pc-home")
    pc = pre_commit()
    check = run([pc, "run", "kinject-check", "--files", *FILES], user_repo, home)
    assert check.returncode == 1, check.stdout
    assert "frontend" in check.stdout and "batch" not in check.stdout
    inject = run([pc, "run", "kinject-inject", "--files", *FILES], user_repo, home)
    assert inject.returncode == 1, inject.stdout
    again = run([pc, "run", "kinject-inject", "--files", *FILES], user_repo, home)
    assert again.returncode == 0, again.stdout  # idempotent: nothing left to change
    check = run([pc, "run", "kinject-check", "--files", *FILES], user_repo, home)
    assert check.returncode == 0, check.stdout
    # files that are not manifests pass through untouched
    (user_repo / "k8s" / "values.yaml").write_text("# just values\nreplicas: 3\n")
    other = run([pc, "run", "kinject-inject", "--files", "k8s/values.yaml"], user_repo, home)
    assert other.returncode == 0, other.stdout
    assert (user_repo / "k8s" / "values.yaml").read_text() == "# just values\nreplicas: 3\n"


def test_inject_hook_fails_on_invalid_annotation(hook_repo: Path, user_repo: Path,
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    """In-process (the same module the hook runs): a broken manifest fails and is left as it was."""
    from kinject.commands.precommit import main

    shop = user_repo / "k8s" / "shop.yaml"
    broken = SHOP.replace("labels: {app: frontend}\n    spec:",
                          "labels: {app: frontend}\n      annotations:\n"
                          "        traffic.sidecar.istio.io/includeOutboundIPRanges: 10.0.0.0/33\n    spec:")
    assert broken != SHOP
    shop.write_text(broken)
    cwd = os.getcwd()
    os.chdir(user_repo)
    try:
        assert main(FILES) != 0
    finally:
        os.chdir(cwd)
    assert shop.read_text() == broken


def test_inject_hook_passes_options(user_repo: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`args:` of the hook reach `kinject inject` (value options in both spellings); values.yaml is skipped."""
    from kinject.commands.precommit import main

    monkeypatch.chdir(user_repo)
    (user_repo / "k8s" / "values.yaml").write_text("replicas: 3\n")
    files = [*FILES, "k8s/values.yaml"]
    assert main(["inject", "--namespace", "legacy", "--namespace-labels=istio-injection=enabled", *files]) == 1
    out = capsys.readouterr().out
    assert "k8s/legacy.yaml" in out and "k8s/shop.yaml" in out and "values.yaml" not in out
    assert injected(find(docs((user_repo / "k8s" / "legacy.yaml").read_text()), "Deployment", "batch"))
    assert main(["inject", "--namespace", "legacy", "--namespace-labels=istio-injection=enabled", *files]) == 0
    assert main(["check", "--namespace", "legacy", "--namespace-labels=istio-injection=enabled", *files]) == 0
    assert main(["check", *files]) == 1  # without the labels, batch's sidecar is one the policy does not want
