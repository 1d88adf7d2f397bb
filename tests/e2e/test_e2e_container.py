"""The container function contract, without Docker: kustomize/kpt run `docker run --rm -i --network none
--user nobody IMAGE` with a ResourceList on stdin and no arguments; the image's ENTRYPOINT is `kinject`."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

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
