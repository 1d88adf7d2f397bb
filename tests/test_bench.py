"""The benchmark (bench/, issue 7) still runs end to end on a tiny N; not timed, no number is asserted.

Also checks what the benchmark measures is real work: every workload of a generated bundle comes out of
`kinject fn` injected, with every comment of the input kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402
import run as bench_run  # noqa: E402


def kinject_fn(text: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "kinject", "fn"], input=text, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_generated_bundle_shape() -> None:
    n = 14  # more than one copy of the app: names must stay distinct
    docs = generate.documents(n)
    assert Counter(d.kind for d in docs) == {"Namespace": 1, "Deployment": n, "Service": n}
    rl = yaml.load(generate.resource_list(docs), Loader=yaml.CSafeLoader)
    assert rl["kind"] == "ResourceList" and len(rl["items"]) == 2 * n + 1
    keys = {(i["kind"], i["metadata"]["name"]) for i in rl["items"]}
    assert len(keys) == 2 * n + 1
    ns = rl["items"][0]
    assert ns["kind"] == "Namespace" and ns["metadata"]["labels"]["istio-injection"] == "enabled"
    for item in rl["items"][1:]:
        assert item["metadata"]["namespace"] == ns["metadata"]["name"]
    stream = list(yaml.load_all(generate.stream(docs), Loader=yaml.CSafeLoader))
    assert stream == rl["items"]
    # realistic shape: license headers, comments, grpc and httpGet probes, security contexts, resources
    text = generate.stream(docs)
    for needle in ("# Licensed under the Apache License", "grpc:", "httpGet:", "readOnlyRootFilesystem: true",
                   "resources:", "tcpSocket:", "initContainers:"):
        assert needle in text, needle


def test_every_workload_injected_and_comments_kept() -> None:
    n = 13
    text = generate.resource_list(generate.documents(n))
    out = kinject_fn(text)
    yes, no = bench_run.injected_names(out)
    assert not no, f"not injected: {no}"
    assert sorted(yes) == sorted(generate.workload_names(n))
    missing = bench_run.comments(text) - bench_run.comments(out)
    assert not missing, f"comments lost: {list(missing)[:5]}"
    check = bench_run.check_output(n, text, out)
    assert check["injected"] == n and check["comments_missing"] == 0


def test_benchmark_script_end_to_end(tmp_path: Path) -> None:
    out_json, out_md = tmp_path / "results.json", tmp_path / "benchmark.md"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--sizes", "5", "--runs", "1", "--no-plot", "--quiet",
         "--work", str(tmp_path / "work"), "--json", str(out_json), "--markdown", str(out_md),
         "--plot", str(tmp_path / "benchmark.png")],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr  # 1 = a target failed (timing is not what this test checks)
    assert "| N workloads" in proc.stdout and "kinject fn" in proc.stdout
    for status in ("PASS", "FAIL", "N/A"):
        if f"{status}: kinject fn, 5 workloads" in proc.stdout:
            break
    else:
        pytest.fail("no PASS/FAIL/N/A line for the small-bundle target:\n" + proc.stdout)

    data = json.loads(out_json.read_text())
    assert {"machine", "sizes", "python", "results", "targets"} <= data.keys()
    assert {"cores", "cpu", "python", "date"} <= data["machine"].keys()
    assert data["python"]["status"] == "ok" and data["python"]["median_s"] > 0
    (entry,) = data["results"]
    assert entry["n"] == 5 and entry["input_bytes"] > 0
    assert set(entry["commands"]) == {"fn", "inject", "scan", "ruamel", "kubectl"}
    for name in ("fn", "inject", "scan", "ruamel"):
        c = entry["commands"][name]
        assert c["status"] == "ok", (name, c)
        assert c["median_s"] > 0 and c["peak_rss_kb"] > 0
    assert entry["commands"]["kubectl"]["status"] in ("ok", "skipped")
    assert entry["check"]["injected"] == 5 and entry["check"]["comments_missing"] == 0
    # N=5 is also measured with kinject's caches off, and its own cache directory was used for the rest
    assert entry["fn_cold"]["status"] == "ok" and entry["fn_cold"]["peak_rss_kb"] > 0
    assert "caches off" in proc.stdout and "with the caches off" in data["targets"][-1]["detail"]
    assert any(p.name.startswith("render-") for p in (tmp_path / "work" / "kinject-cache").iterdir())
    assert "fn/scan" in entry["ratios"] and "fn/python" in entry["ratios"]
    assert {t["target"] for t in data["targets"]} == {"large", "linear", "memory", "small"}
    assert all(t["status"] in ("PASS", "FAIL", "N/A") for t in data["targets"])
    md = out_md.read_text()
    assert md.startswith("# kinject benchmark") and "Machine:" in md and "| N workloads" in md
    assert not (tmp_path / "benchmark.png").exists()


def test_rerun_is_byte_stable() -> None:
    """Target 4 of issue 7: running the function on its own output changes nothing (but the results)."""
    text = generate.resource_list(generate.documents(13))
    once = kinject_fn(text)
    twice = kinject_fn(once)
    items = lambda t: t.split("\nresults:\n")[0]  # noqa: E731
    assert items(twice) == items(once)
