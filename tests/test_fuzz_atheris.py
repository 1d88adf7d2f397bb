"""Issue 5 §7: coverage-guided fuzzing with atheris (libFuzzer), optional.

Run as a script for a campaign (atheris is not a test dependency; a wheel exists for CPython 3.11 x86_64):

    pip install atheris
    python tests/test_fuzz_atheris.py -atheris_runs=200000 [-max_len=4096] [CORPUS_DIR]

Each input goes through `kinject inject` and `kinject fn` in process; any traceback, internal error, exit code
other than 0/1, or exit 0 with empty output aborts the campaign with the input saved by libFuzzer. Under
pytest, a short run (500 inputs) happens only when atheris is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

SEEDS = [
    b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n  labels: {istio-injection: enabled}\n---\n"
    b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: apps}\nspec:\n"
    b"  selector: {matchLabels: {app: web}}\n  template:\n    metadata:\n      labels: {app: web}\n"
    b"      annotations: {sidecar.istio.io/proxyCPU: 100m, proxy.istio.io/config: 'concurrency: 2'}\n"
    b"    spec:\n      containers: [{name: app, image: nginx, ports: [{containerPort: 80}]}]\n",
    b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: Pod\n"
    b"  metadata: {name: p, labels: {sidecar.istio.io/inject: 'true'}}\n  spec: {containers: [{name: a, image: b}]}\n"
    b"functionConfig: {apiVersion: kinject.dev/v1alpha1, kind: SidecarInjector, spec: {nativeSidecars: false}}\n",
    b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"sidecar.istio.io/inject": "true"}},'
    b' "spec": {"containers": [{"name": "a", "image": "b"}]}}\n',
]


def one_input(data: bytes) -> None:
    sys.path.insert(0, str(HERE))
    from strategies import assert_no_crash, run_inproc

    for args in (["inject", "-"], ["fn"]):
        assert_no_crash(run_inproc(args, data))


def main() -> None:
    import atheris

    with atheris.instrument_imports(include=["kinject", "yaml", "jinja2"]):
        sys.path.insert(0, str(HERE))
        import strategies  # noqa: F401  (imports kinject's CLI lazily; instrument what it loads)
        import kinject.cli  # noqa: F401
        import kinject.krm  # noqa: F401
        import kinject.pipeline  # noqa: F401
        import kinject.inject  # noqa: F401

    args = list(sys.argv)
    corpus = [a for a in args[1:] if not a.startswith("-")]
    if not corpus:
        seed_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "kinject-atheris-corpus"
        seed_dir.mkdir(exist_ok=True)
        for i, seed in enumerate(SEEDS):
            (seed_dir / f"seed{i}.yaml").write_bytes(seed)
        args.append(str(seed_dir))
    atheris.Setup(args, one_input)
    atheris.Fuzz()


def test_short_atheris_run(tmp_path) -> None:
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(SEEDS):
        (corpus / f"seed{i}.yaml").write_bytes(seed)
    proc = subprocess.run([sys.executable, __file__, "-atheris_runs=500", "-max_len=2048", str(corpus)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]


if __name__ == "__main__":
    main()
