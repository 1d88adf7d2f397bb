"""kpt (`kpt fn render --allow-exec` with a Kptfile pipeline, `kpt fn eval --exec kinject`): kpt is not in the
package registries, so its exact input (captured from kpt 1.0.0-beta.56: a Kptfile item, path/index/id,
seqindent and package-path annotations, comments) is piped into `kinject fn` as kpt does."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.e2e.helpers import docs, injected
from tests.tools import REPO, kinject

HERE = Path(__file__).parent / "kpt"
KPT_ANNOTATIONS = re.compile(r"^(config\.kubernetes\.io/|internal\.config\.kubernetes\.io/|config\.k8s\.io/)")


def run_fn(stdin: str) -> subprocess.CompletedProcess[str]:
    # kpt runs `exec: kinject` with no arguments and the ResourceList on a pipe
    return subprocess.run([kinject()], input=stdin, text=True, capture_output=True, timeout=60, check=False)


def items(text: str) -> list[dict]:
    return yaml.safe_load(text)["items"]


def _item_texts(text: str) -> list[str]:
    """Raw text of each item of a block-style ResourceList (starting at '- ' under `items:`)."""
    body = text.split("\nitems:\n", 1)[1].split("\nfunctionConfig:", 1)[0]
    return ["- " + chunk for chunk in re.split(r"(?m)^- ", body) if chunk.strip()]


def eval_input() -> str:
    """What `kpt fn eval shop --exec kinject -- defaultNamespace=shop` sends: no package-path, a function-input
    ConfigMap from the `-- k=v` arguments, objects without a namespace."""
    text = (HERE / "render.stdin.yaml").read_text()
    text = re.sub(r"(?m)^ *internal\.config\.kubernetes\.io/package-path: .*\n", "", text)
    text = text.replace("    namespace: shop\n", "")
    head, _ = text.split("functionConfig:\n", 1)
    return head + "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: function-input\n" \
        "  data: {defaultNamespace: shop}\n"


def check_contract(stdin: str, stdout: str) -> None:
    before, after = items(stdin), items(stdout)
    assert [(o["kind"], o["metadata"]["name"]) for o in after] == [(o["kind"], o["metadata"]["name"]) for o in before]
    for old, new in zip(before, after):
        kept = {k: v for k, v in (old["metadata"].get("annotations") or {}).items() if KPT_ANNOTATIONS.match(k)}
        now = {k: v for k, v in (new["metadata"].get("annotations") or {}).items() if KPT_ANNOTATIONS.match(k)}
        assert now == kept, f"{old['kind']}/{old['metadata']['name']}: kpt bookkeeping annotations changed"
    # the Kptfile and everything that is not a workload: byte for byte
    old_texts, new_texts = _item_texts(stdin), _item_texts(stdout)
    for old, new in zip(old_texts, new_texts):
        if "kind: Deployment" not in old:
            assert new == old
    # every comment survives (kpt restores comments by id, but only those the function kept)
    for comment in re.findall(r"#[^\n]*", stdin):
        assert comment in stdout, f"lost comment {comment!r}"
    dep = next(o for o in after if o["kind"] == "Deployment")
    assert injected(dep)
    assert stdout.startswith("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n")
    assert not stdout.lstrip().startswith("{"), "kpt would rewrite the files in JSON flow style"


def test_kpt_render_input() -> None:
    stdin = (HERE / "render.stdin.yaml").read_text()
    proc = run_fn(stdin)
    assert proc.returncode == 0, proc.stderr
    check_contract(stdin, proc.stdout)
    # the Kptfile shown to users in README.md is the one replayed here
    kptfile = (HERE / "Kptfile").read_text()
    assert kptfile in (REPO / "README.md").read_text()
    assert yaml.safe_load(kptfile)["pipeline"] == items(stdin)[0]["pipeline"]


def test_kpt_eval_input_with_function_input_configmap() -> None:
    stdin = eval_input()
    proc = run_fn(stdin)
    assert proc.returncode == 0, proc.stderr
    check_contract(stdin, proc.stdout)


def test_kpt_idempotent() -> None:
    stdin = (HERE / "render.stdin.yaml").read_text()
    once = run_fn(stdin).stdout
    twice = run_fn(once)
    assert twice.returncode == 0, twice.stderr
    # the items are byte-identical; only the informational results differ ("already current")
    assert _item_texts(twice.stdout) == _item_texts(once)
    assert items(twice.stdout) == items(once)


def test_kpt_invalid_annotation_fails_with_results() -> None:
    stdin = (HERE / "render.stdin.yaml").read_text().replace(
        "        labels:\n          app: frontend\n      spec:",
        "        labels:\n          app: frontend\n        annotations:\n"
        "          traffic.sidecar.istio.io/includeOutboundIPRanges: \"10.0.0.0/33\"\n      spec:")
    assert "10.0.0.0/33" in stdin
    proc = run_fn(stdin)
    assert proc.returncode == 1  # kpt only fails on a non-zero exit, never on results alone
    assert "includeOutboundIPRanges" in proc.stderr
    if proc.stdout.strip():  # error results, for `kpt fn render --results-dir`
        results = yaml.safe_load(proc.stdout).get("results") or []
        assert any(r.get("severity", "error") == "error" for r in results)


def test_kpt_invalid_config_fails() -> None:
    stdin = eval_input().replace("data: {defaultNamespace: shop}", "data: {nativeSidecars: sometimes}")
    proc = run_fn(stdin)
    assert proc.returncode == 1
    assert "nativeSidecars" in proc.stderr
