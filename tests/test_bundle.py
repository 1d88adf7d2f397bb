"""A realistic multi-app bundle (Istio's Bookinfo sample with its comments, plus a CronJob elsewhere) through
`kinject fn` as kustomize sends it: every eligible workload injected, everything else kept to the byte,
every output object valid against the Kubernetes schema of its kind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOKINFO = ROOT / "fixtures" / "bookinfo"
KINJECT = str(Path(sys.executable).with_name("kinject"))
K8S_VERSION = "1.33.0"  # native sidecars (restartPolicy: Always on init containers) are GA from 1.33


def as_resource_list(stream: str, config: str) -> str:
    """Wrap a YAML stream into a ResourceList the way kpt does: each document an item, comments kept."""
    items = []
    for doc in re.split(r"^---\n", stream, flags=re.M):
        if not yaml.safe_load(doc):
            continue
        lines = doc.rstrip("\n").split("\n")
        items.append("- " + lines[0] + "".join("\n  " + line if line else "\n" for line in lines[1:]))
    fc = "".join("\n  " + line for line in config.rstrip("\n").split("\n"))
    return "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + "\n".join(items) + \
        "\nfunctionConfig:" + fc + "\n"


@pytest.fixture(scope="module")
def run():
    stdin = as_resource_list((BOOKINFO / "input.yaml").read_text(), (BOOKINFO / "config.yaml").read_text())
    proc = subprocess.run([KINJECT], input=stdin, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return stdin, proc.stdout


def test_every_eligible_workload_is_injected(run):
    _, out = run
    rl = yaml.safe_load(out)
    injected = {}
    for item in rl["items"]:
        if item["kind"] in ("Deployment", "CronJob"):
            tmpl = item["spec"]["template"] if item["kind"] == "Deployment" else \
                item["spec"]["jobTemplate"]["spec"]["template"]
            names = [c["name"] for c in tmpl["spec"].get("initContainers", [])]
            injected[item["metadata"]["name"]] = names == ["istio-init", "istio-proxy"]
    assert injected == {
        "details-v1": True, "ratings-v1": True, "reviews-v1": True, "reviews-v2": True,
        "reviews-v3": False,  # opted out with sidecar.istio.io/inject: "false"
        "productpage-v1": True,
        "catalog-sync": False,  # its namespace is not in the bundle: unlabelled
    }
    messages = {r["resourceRef"]["name"]: r["message"] for r in rl["results"] if "resourceRef" in r}
    assert messages["reviews-v3"].startswith("skipped:") and "inject=false" in messages["reviews-v3"]
    assert "unlabelled" in messages["catalog-sync"]


def test_every_comment_survives(run):
    stdin, out = run
    comments = [line.strip() for line in stdin.splitlines() if "#" in line]
    for comment in comments:
        fragment = comment[comment.index("#"):]
        assert fragment in out, fragment


def test_objects_that_are_not_injected_are_byte_identical(run):
    stdin, out = run
    def items(text):
        body = text.split("\nitems:\n", 1)[1].split("\nfunctionConfig:", 1)[0]
        return re.split(r"\n(?=- )", body)
    before, after = items(stdin), items(out)
    assert len(before) == len(after)
    for b, a in zip(before, after):
        kind = re.search(r"^\s*kind: (\w+)", b, re.M).group(1)
        if kind not in ("Deployment",) or "reviews-v3" in b:
            assert a == b


def test_output_objects_are_valid_kubernetes(run):
    _, out = run
    for item in yaml.safe_load(out)["items"]:
        kubernetes_validate.validate(item, K8S_VERSION, strict=True)
