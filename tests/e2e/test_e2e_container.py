"""The container function contract, without Docker: kustomize/kpt run `docker run --rm -i --network none
--user nobody IMAGE` with a ResourceList on stdin and no arguments; the image's ENTRYPOINT is `kinject`."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e import commands
from tests.e2e.helpers import injected
from tests.tools import REPO, kinject_bin_dir

KPT_INPUT = REPO / "tests" / "e2e" / "kpt" / "render.stdin.yaml"


def entrypoint() -> list[str]:
    m = re.search(r"(?m)^ENTRYPOINT (\[.*\])\s*$", (REPO / "Dockerfile").read_text())
    assert m, "Dockerfile has no exec-form ENTRYPOINT"
    return json.loads(m.group(1))


def test_dockerfile_entrypoint_is_the_documented_one() -> None:
    assert entrypoint() == [commands.CONTAINER_ENTRYPOINT]
    assert not re.search(r"(?m)^CMD ", (REPO / "Dockerfile").read_text()), "no default args: `kinject` alone = fn"


def test_entrypoint_with_no_args_on_a_pipe_is_the_krm_function(tmp_path: Path) -> None:
    """Exactly what the container runs: the entrypoint, no arguments, a minimal env, an unwritable home."""
    env = {"PATH": os.pathsep.join([str(kinject_bin_dir()), "/usr/local/bin", "/usr/bin", "/bin"]),
           "HOME": "/nonexistent", "TMPDIR": str(tmp_path)}
    stdin = KPT_INPUT.read_text()
    proc = subprocess.run(entrypoint(), input=stdin, env=env, cwd="/", text=True, capture_output=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    out = yaml.safe_load(proc.stdout)
    assert out["kind"] == "ResourceList"
    assert injected(next(o for o in out["items"] if o["kind"] == "Deployment"))
    assert list(tmp_path.iterdir()) == [], "the function must leave nothing behind"


def test_entrypoint_fails_loudly_on_garbage() -> None:
    for stdin in ("", "this is: [not a ResourceList\n", "apiVersion: v1\nkind: ConfigMap\n"):
        proc = subprocess.run(entrypoint(), input=stdin, env={**os.environ, "PATH": str(kinject_bin_dir())
                                                               + os.pathsep + os.environ["PATH"]},
                              text=True, capture_output=True, timeout=60, check=False)
        assert proc.returncode != 0, f"exit 0 for {stdin!r}"
        assert proc.stderr.strip()


FAKE_DOCKER = '''#!{python}
"""Stands in for the Docker CLI: checks what kustomize asks for, then runs the image's ENTRYPOINT the way the
container would (no arguments, only the -e variables, cwd /, a home that does not exist)."""
import json, os, subprocess, sys
args = sys.argv[1:]
with open({log!r}, "w") as fh:
    json.dump(args, fh)
if not args or args[0] != "run":
    sys.exit("fake docker: only `run` is supported")
env = {{"PATH": {path!r}, "HOME": "/nonexistent"}}
i = 1
while i < len(args) and args[i].startswith("-"):
    opt = args[i]
    if opt in ("-e", "--env"):
        key, _, value = args[i + 1].partition("=")
        env[key] = value
    if opt in ("-a", "-e", "--env", "--network", "--user", "--mount", "-v"):
        i += 1
    i += 1
image, extra = args[i], args[i + 1:]
if image != {image!r}:
    sys.exit(f"fake docker: unexpected image {{image}}")
sys.exit(subprocess.run({entrypoint!r} + extra, env=env, cwd="/").returncode)
'''


@pytest.mark.parametrize(("host", "cmd"), [
    ("kustomize", commands.CONTAINER_KUSTOMIZE),
    ("kubectl", commands.CONTAINER_KUBECTL),
])
def test_hosts_run_the_image_as_a_container_function(repo_copy: Path, tmp_path: Path, host: str, cmd: str) -> None:
    """The real kustomize and kubectl with `container: {image: kinject:0.1.0}` (README.md), Docker replaced by
    a stand-in that runs the Dockerfile's ENTRYPOINT as the container would. Unlike exec functions, kubectl
    does run container functions."""
    import sys

    from tests.e2e.helpers import assert_injected, docs, ok, sh
    from tests.tools import host_env

    cfg = repo_copy / "kustomize" / "base" / "kinject.yaml"
    cfg.write_text(cfg.read_text().replace("      exec:\n        path: kinject\n",
                                           "      container:\n        image: kinject:0.1.0\n"))
    assert "image: kinject:0.1.0" in (REPO / "README.md").read_text()
    fake = tmp_path / "fake-docker"
    fake.mkdir()
    log = tmp_path / "docker-args.json"
    (fake / "docker").write_text(FAKE_DOCKER.format(
        python=sys.executable, log=str(log), image="kinject:0.1.0", entrypoint=entrypoint(),
        path=os.pathsep.join([str(kinject_bin_dir()), "/usr/local/bin", "/usr/bin", "/bin"])))
    (fake / "docker").chmod(0o755)
    env = host_env(host)
    env["PATH"] = os.pathsep.join([str(fake), env["PATH"]])
    # no --enable-exec: container functions only need --enable-alpha-plugins
    out = ok(sh(cmd, cwd=repo_copy, env=env))
    assert_injected(docs(out), "frontend", "cart")
    args = json.loads(log.read_text())
    assert args[-1] == "kinject:0.1.0", "kustomize passes no arguments after the image"
    assert ["--network", "none"] == args[args.index("--network"):args.index("--network") + 2]
    assert ["--user", "nobody"] == args[args.index("--user"):args.index("--user") + 2]


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    """No Docker engine here: at least every COPY source exists and survives .dockerignore, and the package
    metadata the wheel build needs is there."""
    dockerfile = (REPO / "Dockerfile").read_text()
    ignored = [line.strip().rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    sources = []
    for m in re.finditer(r"(?m)^COPY (?!--from)(.+)$", dockerfile):
        *srcs, _dst = m.group(1).split()
        sources.extend(srcs)
    assert {"pyproject.toml", "plugin/kinject", "templates", "plugin/argocd/plugin.yaml"} <= set(sources)
    for src in sources:
        assert (REPO / src).exists(), src
        top = src.split("/")[0]
        assert top not in ignored and src not in ignored, f"{src} is excluded by .dockerignore"
    assert re.search(r"(?m)^FROM .* AS kustomize$", dockerfile)
