"""Golden fixture directories (kyaml style), run through the real `kinject` executable.

fixtures/NAME/
  input.yaml           a ResourceList (run with `kinject fn`) or a plain YAML stream (run with `kinject inject`)
  config.yaml          optional SidecarInjector, passed with --config in stream mode
  args                 optional extra command-line arguments (one line) in stream mode
  expected.yaml        the exact expected stdout
  expected-error.txt   instead of expected.yaml: exit 1 and this text (a substring) on stderr

`KINJECT_UPDATE_GOLDEN=1 pytest tests/test_fixtures.py` rewrites expected.yaml after a deliberate change.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted(p for p in (ROOT / "fixtures").iterdir() if (p / "input.yaml").exists())
KINJECT = [sys.executable, "-m", "kinject"]
UPDATE = os.environ.get("KINJECT_UPDATE_GOLDEN") == "1"


def is_resource_list(text: str) -> bool:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(doc, dict) and doc.get("kind") == "ResourceList"


def command(case: Path) -> tuple[list[str], str]:
    text = (case / "input.yaml").read_text()
    if is_resource_list(text):
        return [*KINJECT, "fn"], text
    args = [*KINJECT, "inject", "--quiet"]
    if (case / "config.yaml").exists():
        args += ["--config", str(case / "config.yaml")]
    if (case / "args").exists():
        args += shlex.split((case / "args").read_text())
    return args + ["-"], text


def run(args: list[str], stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120)


def items_part(text: str) -> str:
    """A ResourceList without its results (they differ between a first and a second run)."""
    return text.split("\nresults:\n")[0]


@pytest.mark.parametrize("case", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture(case: Path) -> None:
    args, stdin = command(case)
    proc = run(args, stdin)
    assert "Traceback" not in proc.stderr
    error_file = case / "expected-error.txt"
    if error_file.exists():
        assert proc.returncode == 1, proc.stderr
        assert error_file.read_text().strip() in proc.stderr
        if args[-1] == "fn":  # a ResourceList with error results is still written
            out = yaml.safe_load(proc.stdout)
            assert any(r["severity"] == "error" for r in out["results"])
        else:
            assert proc.stdout == ""
        return
    assert proc.returncode == 0, proc.stderr
    expected = case / "expected.yaml"
    if UPDATE:
        expected.write_text(proc.stdout)
    assert expected.exists(), f"{expected} is missing: run with KINJECT_UPDATE_GOLDEN=1 and review it"
    assert proc.stdout == expected.read_text()
    # idempotent: running on the output changes nothing
    again = run(args, proc.stdout)
    assert again.returncode == 0, again.stderr
    assert items_part(again.stdout) == items_part(proc.stdout)


@pytest.mark.parametrize("case", FIXTURES, ids=[p.name for p in FIXTURES])
def test_untouched_objects_are_byte_identical(case: Path) -> None:
    """Every document that is not a workload comes out exactly as it went in."""
    if not (case / "expected.yaml").exists():
        pytest.skip("error fixture")
    args, stdin = command(case)
    if args[-1] == "fn":
        pytest.skip("ResourceList fixtures: covered by the kpt/kustomize shape tests")
    before = [d for d in stdin.split("\n---\n")]
    after = (case / "expected.yaml").read_text().split("\n---\n")
    assert len(before) == len(after)
    for b, a in zip(before, after):
        doc = yaml.safe_load(b)
        if not isinstance(doc, dict) or doc.get("kind") not in {
            "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet", "List", "Rollout",
        }:
            assert b.strip("\n") == a.strip("\n")
