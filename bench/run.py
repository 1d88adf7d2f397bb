#!/usr/bin/env python3
"""kinject benchmark (issue 7): `kinject fn` and `kinject inject` against the floors, as whole processes.

For each N (workloads; the bundle also holds N Services and a Namespace, see generate.py) it times, median of
several runs, interleaved round by round:
  fn       kinject fn < ResourceList
  inject   kinject inject --quiet --config config.yaml - < the same objects as a plain stream
  scan     a process that reads the ResourceList and walks libyaml's events (yaml.parse, CSafeLoader)
  ruamel   a process that round-trips the ResourceList through ruamel.yaml (typ="rt") to stdout
  kubectl  kubectl kustomize of a kustomization holding the same objects (when a kubectl binary is found)
and once: `python -c pass` (the interpreter start). Peak memory is each process's own ru_maxrss (os.wait4).
kinject runs with its own cache directory (bench/out/work/kinject-cache, emptied at the start), so its first
run is a cold one and the rest are warm, as under kustomize or Argo CD; at N=5 and N=1,000 `kinject fn` is also
measured with its caches off (KINJECT_NO_CACHE=1: what a first run on a machine, or a read-only home, costs).
It checks the `kinject fn` output (every workload injected, every comment kept), prints the tables, checks the
targets of issue 7 (PASS/FAIL), and writes bench/out/results.json, docs/benchmark.md and docs/benchmark.png.

Usage: python bench/run.py [--sizes 5 10 100 1000 2000 5000] [--runs 5] [--no-plot]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402

SCAN = ("import sys, yaml\n"
        "for _ in yaml.parse(sys.stdin.read(), Loader=yaml.CSafeLoader):\n"
        "    pass\n")
RUAMEL = ("import sys\n"
          "from ruamel.yaml import YAML\n"
          "y = YAML(typ='rt')\n"
          "y.preserve_quotes = True\n"
          "y.width = 1 << 30\n"
          "y.dump(y.load(sys.stdin.read()), sys.stdout)\n")

COMMANDS = ["fn", "inject", "scan", "ruamel", "kubectl"]
LABELS = {
    "fn": "kinject fn",
    "inject": "kinject inject",
    "scan": "libyaml event scan",
    "ruamel": "ruamel round-trip",
    "kubectl": "kubectl kustomize",
    "python": "python -c pass",
}

TARGETS = {
    "large": "kinject fn, 1,000 workloads + 1,000 Services: <= 10x the libyaml event scan, all injected, comments kept",
    "linear": "kinject fn, 2,000 workloads: <= 2.2x the time of 1,000",
    "memory": "kinject fn peak RSS <= 10x input size + interpreter (python -c pass), at N >= 1,000",
    "small": "kinject fn, 5 workloads: <= 6x python -c pass",
}


# ----------------------------------------------------------------------------------------------- measuring

GNU_TIME = "/usr/bin/time"


def gnu_time() -> str | None:
    """GNU time, which reports its child's own peak RSS (a process forked from this one would inherit this
    process's RSS into its ru_maxrss: Linux records the old memory map's high-water mark at exec)."""
    if not os.access(GNU_TIME, os.X_OK):
        return None
    try:
        out = subprocess.run([GNU_TIME, "-f", "%M", "true"], capture_output=True, text=True, timeout=10)
        return GNU_TIME if out.returncode == 0 and out.stderr.strip().splitlines()[-1].isdigit() else None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


TIME_BIN = gnu_time()


@functools.lru_cache(maxsize=None)
def head_commit() -> subprocess.CompletedProcess:
    """`git rev-parse --short HEAD`, run once (machine() and snapshot() both need it)."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)


def snapshot(work: Path) -> tuple[str, Path]:
    """kinject as committed at HEAD, exported to `work` (git archive), so that one benchmark run measures one
    commit even while the working tree changes. Returns (commit, directory to put on PYTHONPATH)."""
    proc = head_commit()
    proc.check_returncode()
    rev = proc.stdout.strip()
    dest = work / f"kinject-{rev}"
    if not (dest / "kinject" / "__init__.py").exists():
        tmp = work / f"kinject-{rev}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "HEAD", "plugin/kinject", "templates"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        (tmp / "plugin" / "kinject").rename(tmp / "kinject")
        (tmp / "templates").rename(tmp / "kinject" / "templates")
        # Bytecode, as pip writes it at install time: with PYTHONDONTWRITEBYTECODE set (as in some shells and
        # containers) nothing else would, and every run would compile kinject's modules from source again.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tmp / "kinject")], check=True)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    return rev, dest


def measure(argv: list[str], stdin: Path | None, stdout: Path, timeout: float, rss: bool = True,
            env: dict | None = None) -> dict:
    """Run one process: its wall time (s), exit code and, when `rss`, its own peak RSS (KiB)."""
    err_path = stdout.with_suffix(stdout.suffix + ".err")
    rss_path = stdout.with_suffix(stdout.suffix + ".rss")
    if rss and TIME_BIN:
        argv = [TIME_BIN, "-f", "%M", "-o", str(rss_path), *argv]
    with open(stdin or os.devnull, "rb") as fin, open(stdout, "wb") as fout, open(err_path, "wb") as ferr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=fin, stdout=fout, stderr=ferr, cwd=ROOT, start_new_session=True,
                                env=env)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    # CPU time (user + sys) of the process and what it waited for: far less sensitive than wall time to other
    # load on the machine (kubectl, multi-threaded, can use more CPU than wall time).
    result = {"time_s": elapsed, "cpu_s": usage.ru_utime + usage.ru_stime, "rc": proc.returncode}
    if rss and TIME_BIN:
        try:
            result["rss_kb"] = int(rss_path.read_text().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            pass
    elif rss:  # upper bound: includes this process's RSS at fork
        result["rss_kb"] = usage.ru_maxrss
    if timed_out.is_set():
        result["error"] = f"timed out after {timeout:.0f} s"
    elif proc.returncode != 0:
        result["error"] = f"exit {proc.returncode}: " + err_path.read_text(errors="replace").strip()[-400:]
    return result


def summarise(samples: list[dict], rss_samples: list[dict] = ()) -> dict:
    ok = [s for s in samples if "error" not in s]
    if not ok:
        return {"status": "failed", "error": samples[-1]["error"], "runs": len(samples)}
    times = [s["time_s"] for s in ok]
    rss = [s["rss_kb"] for s in [*ok, *rss_samples] if "rss_kb" in s and "error" not in s]
    cpu = [s["cpu_s"] for s in ok]
    return {"status": "ok", "median_s": statistics.median(times), "min_s": min(times), "times_s": times,
            "cpu_median_s": statistics.median(cpu), "cpu_s": cpu,
            "peak_rss_kb": max(rss) if rss else None, "runs": len(ok)}


def find_kubectl(explicit: str | None) -> str | None:
    if explicit:
        return explicit if explicit != "none" else None
    local = ROOT / ".tools" / "bin" / "kubectl"
    if local.exists() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("kubectl")


def find_kinject(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    script = Path(sys.executable).parent / "kinject"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kinject"]


def runs_for(n: int, runs: int) -> int:
    if n <= 10:
        return runs * 3  # the start-up target needs a stable median
    if n <= 100:
        return runs
    if n <= 2000:
        return max(1, (runs + 1) // 2)
    return 1


# ----------------------------------------------------------------------------------------------- checking

COMMENT = re.compile(r"(?:^|\s)(#.*)$")


def comments(text: str) -> Counter:
    out = Counter()
    for line in text.splitlines():
        m = COMMENT.search(line)
        if m:
            out[m.group(1).rstrip()] += 1
    return out


def injected_names(output: str) -> tuple[list[str], list[str]]:
    """(injected, not injected) Deployment names in a `kinject fn` output ResourceList."""
    import yaml

    doc = yaml.load(output, Loader=yaml.CSafeLoader)
    yes, no = [], []
    for item in doc.get("items") or []:
        if item.get("kind") != "Deployment":
            continue
        pod = item["spec"]["template"]
        names = [c.get("name") for key in ("containers", "initContainers") for c in pod["spec"].get(key) or []]
        annotated = "sidecar.istio.io/status" in ((pod.get("metadata") or {}).get("annotations") or {})
        (yes if "istio-proxy" in names and annotated else no).append(item["metadata"]["name"])
    return yes, no


def check_output(n: int, input_text: str, output_text: str) -> dict:
    try:
        yes, no = injected_names(output_text)
    except Exception as exc:  # noqa: BLE001 - a broken output is a finding, not a crash
        return {"workloads": n, "injected": 0, "error": f"output does not parse: {exc}"}
    cin, cout = comments(input_text), comments(output_text)
    missing = cin - cout
    return {"workloads": n, "injected": len(yes), "not_injected": no[:10], "comments_in": sum(cin.values()),
            "comments_missing": sum(missing.values()), "missing_examples": list(missing)[:5]}


# ----------------------------------------------------------------------------------------------- machine

def machine() -> dict:
    info = {"cores": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(), "implementation": platform.python_implementation(),
            "system": f"{platform.system()} {platform.release()}",
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        if m:
            info["cpu"] = m.group(1).strip()
        meminfo = Path("/proc/meminfo").read_text()
        m = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
        if m:
            info["memory_gib"] = round(int(m.group(1)) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        info["kinject_commit"] = head_commit().stdout.strip() or None
    except OSError:
        pass
    for mod in ("yaml", "ruamel.yaml"):
        try:
            from importlib.metadata import version

            info[mod] = version({"yaml": "PyYAML"}.get(mod, mod))
        except Exception:  # noqa: BLE001
            pass
    return info


def kubectl_version(kubectl: str) -> str | None:
    try:
        out = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True,
                             timeout=30)
        data = json.loads(out.stdout)
        kv = data.get("kustomizeVersion")
        return data["clientVersion"]["gitVersion"] + (f" (kustomize {kv})" if kv else "")
    except Exception:  # noqa: BLE001
        return None


# ----------------------------------------------------------------------------------------------- running

def run(args: argparse.Namespace) -> dict:
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    kinject = find_kinject(args.kinject)
    kubectl = None if args.no_kubectl else find_kubectl(args.kubectl)
    info = machine()
    info["load_average_start"] = os.getloadavg()[0]
    cache = work / "kinject-cache"
    shutil.rmtree(cache, ignore_errors=True)
    kinject_env = {**os.environ, "KINJECT_CACHE_DIR": str(cache)}
    kinject_env.pop("KINJECT_NO_CACHE", None)
    if args.snapshot:
        rev, snap = snapshot(work)
        kinject_env["PYTHONPATH"] = str(snap)
        info["kinject_commit"] = f"{rev} (snapshot of HEAD)"
        where = subprocess.run([py, "-c", "import kinject; print(kinject.__file__)"], env=kinject_env,
                               capture_output=True, text=True).stdout.strip()
        if not where.startswith(str(snap)):
            raise SystemExit(f"the snapshot is not what runs: kinject imports from {where}")
    if not args.snapshot:
        dirty = subprocess.run(["git", "status", "--porcelain", "plugin", "templates"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        if dirty:
            info["kinject_commit"] = f"{info.get('kinject_commit')} + uncommitted changes"
    if kubectl:
        info["kubectl"] = kubectl_version(kubectl)
    results = {"machine": info, "sizes": args.sizes, "runs": args.runs, "python": None, "results": [],
               "notes": [], "rss_method": "GNU time %M (the process's own peak RSS)" if TIME_BIN else
               "os.wait4 ru_maxrss (upper bound: includes the benchmark process's RSS at fork)"}
    if not TIME_BIN:
        results["notes"].append("no GNU time at /usr/bin/time: peak RSS is an upper bound")
    if not args.snapshot and os.environ.get("PYTHONDONTWRITEBYTECODE"):
        results["notes"].append("PYTHONDONTWRITEBYTECODE is set and --snapshot is not: kinject modules without "
                                "a current .pyc are compiled from source in every run (start-up measured high)")
    if not kubectl:
        results["notes"].append("kubectl not found (.tools/bin/kubectl, PATH): kubectl kustomize not measured")

    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if not args.quiet else (lambda *a: None)

    # The interpreter floor, measured once with many runs.
    out = work / "python.out"
    warm = [measure([py, "-c", "pass"], None, out, args.timeout) for _ in range(2)]  # warm-up, and the RSS
    samples = [measure([py, "-c", "pass"], None, out, args.timeout, rss=False)
               for _ in range(max(5, args.runs * 3))]
    results["python"] = summarise(samples, warm)
    log(f"python -c pass: {results['python'].get('median_s', 0) * 1000:.1f} ms")

    gave_up: dict[str, str] = {}  # commands not run at larger N, and why
    for n in args.sizes:
        paths = generate.write(n, work)
        rl_text = paths["rl"].read_text()
        entry = {"n": n, "input_bytes": len(rl_text.encode()), "stream_bytes": paths["stream"].stat().st_size,
                 "commands": {}}
        argvs = {
            "fn": (kinject + ["fn"], paths["rl"]),
            "inject": (kinject + ["inject", "--quiet", "--config", str(paths["config"]), "-"], paths["stream"]),
            "scan": ([py, "-c", SCAN], paths["rl"]),
            "ruamel": ([py, "-c", RUAMEL], paths["rl"]),
            "kubectl": ([kubectl, "kustomize", str(paths["kdir"])], None) if kubectl else None,
        }
        active = {}
        for name in COMMANDS:
            if argvs[name] is None:
                entry["commands"][name] = {"status": "skipped", "reason": "kubectl not available"}
            elif name == "ruamel" and n > args.ruamel_max:
                entry["commands"][name] = {"status": "skipped",
                                           "reason": f"N > --ruamel-max {args.ruamel_max} (too slow)"}
            elif name == "kubectl" and n > args.kubectl_max:
                entry["commands"][name] = {"status": "skipped", "reason": f"N > --kubectl-max {args.kubectl_max}"}
            elif name in gave_up:
                entry["commands"][name] = {"status": "skipped", "reason": gave_up[name]}
            else:
                active[name] = argvs[name]
        runs = runs_for(n, args.runs)
        samples = {name: [] for name in active}
        rss_samples = {name: [] for name in active}
        small = n <= 100
        envs = {"fn": kinject_env, "inject": kinject_env}
        if small:  # warm-up (page cache, .pyc files), cheap at small N; it also measures the peak RSS, so that
            # the ~1 ms of /usr/bin/time stays out of the timed runs
            for name, (argv, stdin) in active.items():
                rss_samples[name].append(measure(argv, stdin, work / f"{name}-{n}.out", args.timeout,
                                                 env=envs.get(name)))
        for r in range(runs):
            for name, (argv, stdin) in active.items():
                if samples[name] and ("error" in samples[name][-1]
                                      or samples[name][0]["time_s"] > args.no_repeat_after):
                    continue  # a failing or timed-out command is not retried; a very slow one not repeated
                s = measure(argv, stdin, work / f"{name}-{n}.out", args.timeout, rss=not small,
                            env=envs.get(name))
                samples[name].append(s)
                if r == 0 and name == "fn" and "error" not in s:
                    entry["check"] = check_output(n, rl_text, (work / f"fn-{n}.out").read_text())
                log(f"N={n} {name} run {r + 1}/{runs}: "
                    + (s["error"][:200] if "error" in s else f"{s['time_s']:.3f} s"
                       + (f", {s['rss_kb'] / 1024:.0f} MiB" if "rss_kb" in s else "")))
        if n in COLD_SIZES and "fn" in active:
            entry["fn_cold"] = measure_cold(active["fn"], n, runs if small else 1, work, args, kinject_env, log)
        for name in active:
            entry["commands"][name] = summarise(samples[name], rss_samples[name])
            c = entry["commands"][name]
            if c["status"] == "failed":
                gave_up[name] = f"failed or timed out at N={n}"
            nxt = [m for m in args.sizes if m > n]
            if c["status"] == "ok" and nxt and c["median_s"] * nxt[0] / n > args.timeout:
                gave_up[name] = (f"{c['median_s']:.0f} s at N={n} predicts more than the {args.timeout:.0f} s "
                                 "timeout (even if linear)")
        entry["ratios"] = ratios(entry, results["python"])
        results["results"].append(entry)
    results["targets"] = targets(results)
    info["load_average_end"] = os.getloadavg()[0]
    return results


COLD_SIZES = (5, 1000)


def measure_cold(argv_stdin: tuple, n: int, runs: int, work: Path, args: argparse.Namespace, env: dict,
                 log) -> dict:
    """kinject fn with its caches off: one run for the peak RSS, then `runs` timed runs (small N)."""
    argv, stdin = argv_stdin
    env = {**env, "KINJECT_NO_CACHE": "1"}
    out = work / f"fn-cold-{n}.out"
    rss = [measure(argv, stdin, out, args.timeout, env=env)]
    timed = [measure(argv, stdin, out, args.timeout, rss=False, env=env) for _ in range(runs)] if runs > 1 else rss
    result = summarise(timed, rss)
    log(f"N={n} fn, caches off: " + (f"{result['median_s']:.3f} s, {result['peak_rss_kb'] / 1024:.0f} MiB"
                                     if result["status"] == "ok" else result["error"][:200]))
    return result


def rss_limit_kb(entry: dict, python: dict) -> float:
    """The memory target's limit for one bundle: 10x its input size plus the bare interpreter's peak RSS."""
    return 10 * entry["input_bytes"] / 1024 + (python.get("peak_rss_kb") or 0)


def med(entry: dict, name: str) -> float | None:
    c = entry["commands"].get(name) or {}
    return c.get("median_s") if c.get("status") == "ok" else None


def cpu(entry: dict, name: str) -> float | None:
    c = entry["commands"].get(name) or {}
    return c.get("cpu_median_s") if c.get("status") == "ok" else None


def ratios(entry: dict, python: dict) -> dict:
    out = {}
    for get, suffix, py_key in ((med, "", "median_s"), (cpu, " cpu", "cpu_median_s")):
        fn = get(entry, "fn")
        if fn is None:
            continue
        for name in ("scan", "ruamel", "kubectl"):
            floor = get(entry, name)
            if floor:
                out[f"fn/{name}{suffix}"] = fn / floor
        if python.get("status") == "ok" and python.get(py_key):
            out[f"fn/python{suffix}"] = fn / python[py_key]
    return out


def by_n(results: dict, n: int) -> dict | None:
    return next((e for e in results["results"] if e["n"] == n), None)


def targets(results: dict) -> list[dict]:
    out = []

    def add(key: str, ok: bool | None, detail: str) -> None:
        out.append({"target": key, "description": TARGETS[key],
                    "status": "N/A" if ok is None else ("PASS" if ok else "FAIL"), "detail": detail})

    e = by_n(results, 1000)
    if e is None or med(e, "fn") is None or med(e, "scan") is None:
        add("large", None, "N=1000 not measured" if e is None else "kinject fn or the scan failed at N=1000")
    else:
        ratio = med(e, "fn") / med(e, "scan")
        chk = e.get("check") or {}
        complete = chk.get("injected") == 1000 and chk.get("comments_missing") == 0
        add("large", ratio <= 10 and complete,
            f"{med(e, 'fn'):.3f} s / {med(e, 'scan'):.3f} s = {ratio:.1f}x (CPU time: "
            f"{cpu(e, 'fn') / cpu(e, 'scan'):.1f}x); injected {chk.get('injected')}/1000, "
            f"comments missing {chk.get('comments_missing')}")

    e1, e2 = by_n(results, 1000), by_n(results, 2000)
    if not (e1 and e2 and med(e1, "fn") and med(e2, "fn")):
        add("linear", None, "needs N=1000 and N=2000")
    else:
        ratio = med(e2, "fn") / med(e1, "fn")
        add("linear", ratio <= 2.2, f"{med(e2, 'fn'):.3f} s / {med(e1, 'fn'):.3f} s = {ratio:.2f}x (CPU time: "
                                    f"{cpu(e2, 'fn') / cpu(e1, 'fn'):.2f}x)")

    py = results["python"] or {}
    big = [e for e in results["results"] if e["n"] >= 1000 and (e["commands"].get("fn") or {}).get("peak_rss_kb")]
    if not big or not py.get("peak_rss_kb"):
        add("memory", None, "needs a measured N >= 1000")
    else:
        worst = []
        for e in big:
            limit_kb = rss_limit_kb(e, py)
            worst.append((e["commands"]["fn"]["peak_rss_kb"] / limit_kb, e, limit_kb))
        fails = [w for w in worst if w[0] > 1]
        cold_detail = ""
        for e in big:
            cold = e.get("fn_cold") or {}
            if cold.get("peak_rss_kb"):
                limit_kb = rss_limit_kb(e, py)
                within = cold["peak_rss_kb"] <= limit_kb
                fails += [] if within else [(cold["peak_rss_kb"] / limit_kb, e, limit_kb)]
                cold_detail += (f"; caches off, N={e['n']}: {cold['peak_rss_kb'] / 1024:.0f} MiB "
                                f"{'<=' if within else '>'} {limit_kb / 1024:.0f} MiB")
        small = min(results["results"], key=lambda e: e["n"])
        base = (small["commands"].get("fn") or {}).get("peak_rss_kb")
        detail = "; ".join(f"N={e['n']}: {e['commands']['fn']['peak_rss_kb'] / 1024:.0f} MiB <= "
                           f"{lim / 1024:.0f} MiB" if r <= 1 else
                           f"N={e['n']}: {e['commands']['fn']['peak_rss_kb'] / 1024:.0f} MiB > {lim / 1024:.0f} MiB"
                           for r, e, lim in worst)
        if base and small["n"] < 1000:  # the same check against kinject's own start-up footprint
            detail += (f" (against kinject's own footprint, {base / 1024:.0f} MiB at N={small['n']}, instead of "
                       "the bare interpreter: " + "; ".join(
                           f"N={e['n']} limit {(10 * e['input_bytes'] / 1024 + base) / 1024:.0f} MiB"
                           for _, e, _ in worst) + ")")
        add("memory", not fails, detail + cold_detail)

    e = by_n(results, 5)
    if e is None or med(e, "fn") is None or py.get("status") != "ok":
        add("small", None, "N=5 not measured")
    else:
        ratio = med(e, "fn") / py["median_s"]
        cold = e.get("fn_cold") or {}
        cold_detail = (f"; with the caches off (a first run): {cold['median_s'] * 1000:.0f} ms = "
                       f"{cold['median_s'] / py['median_s']:.1f}x" if cold.get("status") == "ok" else "")
        add("small", ratio <= 6, f"{med(e, 'fn') * 1000:.0f} ms / {py['median_s'] * 1000:.1f} ms = {ratio:.1f}x "
                                 f"(CPU time: {cpu(e, 'fn') / py['cpu_median_s']:.1f}x), warm caches{cold_detail}")
    return out


# ----------------------------------------------------------------------------------------------- reporting

def fmt_time(entry: dict, name: str, key: str = "median_s") -> str:
    c = entry["commands"].get(name) or {}
    if c.get("status") == "ok":
        s = c[key]
        return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"
    return "skipped" if c.get("status") == "skipped" else "failed"


def fmt_rss(entry: dict, name: str) -> str:
    c = entry["commands"].get(name) or {}
    return f"{c['peak_rss_kb'] / 1024:.0f}" if c.get("status") == "ok" and c.get("peak_rss_kb") else "-"


def tables(results: dict) -> str:
    py = results["python"] or {}
    pyt = f"{py['median_s'] * 1000:.1f} ms" if py.get("status") == "ok" else "failed"
    pycpu = py.get("cpu_median_s")
    lines = [f"`python -c pass`: {pyt} (CPU time {(pycpu or 0) * 1000:.1f} ms), peak RSS "
             f"{(py.get('peak_rss_kb') or 0) / 1024:.0f} MiB ({py.get('runs', 0)} runs).", "",
             *cold_lines(results),
             "| N workloads (+N Services) | input | runs | kinject fn | kinject inject | event scan | ruamel rt "
             "| kubectl kustomize | fn / scan | fn / python | fn / ruamel | fn / kubectl | injected | comments kept |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e in results["results"]:
        r = e.get("ratios", {})
        chk = e.get("check") or {}
        ratio = lambda k: f"{r[k]:.1f}x" if k in r else "-"  # noqa: E731
        kept = ("-" if "comments_in" not in chk else
                f"{chk['comments_in'] - chk['comments_missing']}/{chk['comments_in']}")
        runs = (e["commands"].get("fn") or {}).get("runs", "-")
        lines.append(f"| {e['n']} | {e['input_bytes'] / 1024:.0f} KiB | {runs} | {fmt_time(e, 'fn')} | "
                     f"{fmt_time(e, 'inject')} | {fmt_time(e, 'scan')} | {fmt_time(e, 'ruamel')} | "
                     f"{fmt_time(e, 'kubectl')} | {ratio('fn/scan')} | {ratio('fn/python')} | {ratio('fn/ruamel')} | "
                     f"{ratio('fn/kubectl')} | {chk.get('injected', '-')}/{e['n']} | {kept} |")
    lines += ["", "CPU time (user + sys, median; less sensitive to other load than wall time):", "",
              "| N | kinject fn | kinject inject | event scan | ruamel rt | kubectl kustomize | fn / scan | "
              "fn / python | fn / ruamel | fn / kubectl |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e in results["results"]:
        r = e.get("ratios", {})
        ratio = lambda k: f"{r[k]:.1f}x" if k in r else "-"  # noqa: E731
        lines.append(f"| {e['n']} | " + " | ".join(fmt_time(e, k, "cpu_median_s") for k in COMMANDS) + " | "
                     + " | ".join(ratio(f"fn/{k} cpu") for k in ("scan", "python", "ruamel", "kubectl")) + " |")
    lines += ["", f"Peak RSS (MiB; {results.get('rss_method', '')}):", "",
              "| N | input | kinject fn | kinject inject | event scan | ruamel rt | kubectl kustomize | "
              "fn limit (10x input + interpreter) |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e in results["results"]:
        limit = rss_limit_kb(e, py) / 1024
        lines.append(f"| {e['n']} | {e['input_bytes'] / 1024 / 1024:.2f} | {fmt_rss(e, 'fn')} | "
                     f"{fmt_rss(e, 'inject')} | {fmt_rss(e, 'scan')} | {fmt_rss(e, 'ruamel')} | "
                     f"{fmt_rss(e, 'kubectl')} | {limit:.0f} |")
    lines += ["", "| target | status | measured |", "|---|---|---|"]
    for t in results["targets"]:
        lines.append(f"| {t['description']} | **{t['status']}** | {t['detail']} |")
    problems = []
    for e in results["results"]:
        for name, c in e["commands"].items():
            if c.get("status") == "failed":
                problems.append(f"- N={e['n']} {LABELS[name]} failed: {c['error'][:300]}")
            elif c.get("status") == "skipped":
                problems.append(f"- N={e['n']} {LABELS[name]} skipped: {c['reason']}")
        chk = e.get("check") or {}
        if chk.get("error") or chk.get("not_injected") or chk.get("comments_missing"):
            problems.append(f"- N={e['n']} output check: {json.dumps({k: chk[k] for k in chk if k != 'workloads'})}")
    if problems or results["notes"]:
        lines += ["", *[f"- {n}" for n in results["notes"]], *problems]
    return "\n".join(lines)


def cold_lines(results: dict) -> list[str]:
    cold = [(e["n"], e["fn_cold"]) for e in results["results"] if (e.get("fn_cold") or {}).get("status") == "ok"]
    if not cold:
        return []
    return ["`kinject fn` with its caches off (`KINJECT_NO_CACHE=1`: a first run on a machine, or a read-only "
            "home; the tables below are warm, as every later run is): " + "; ".join(
                f"N={n}: {c['median_s'] * 1000:.0f} ms" if c["median_s"] < 1 else f"N={n}: {c['median_s']:.2f} s"
                for n, c in cold) + ", peak RSS " + "; ".join(
                f"N={n}: {c['peak_rss_kb'] / 1024:.0f} MiB" for n, c in cold) + ".", ""]


def machine_line(info: dict) -> str:
    parts = [f"{info.get('cores')} cores", info.get("cpu", "?")]
    if info.get("memory_gib"):
        parts.append(f"{info['memory_gib']} GiB RAM")
    parts += [f"{info.get('implementation', 'Python')} {info.get('python')}", info.get("system", ""),
              f"PyYAML {info.get('yaml', '?')}", f"ruamel.yaml {info.get('ruamel.yaml', '?')}"]
    if info.get("kubectl"):
        parts.append(f"kubectl {info['kubectl']}")
    parts += [f"kinject {info.get('kinject_commit') or '?'}", info.get("date", "")]
    if "load_average_start" in info:
        parts.append(f"load average {info['load_average_start']:.1f} at start, "
                     f"{info.get('load_average_end', float('nan')):.1f} at end")
    return ", ".join(p for p in parts if p)


def markdown(results: dict, plot: Path | None) -> str:
    out = ["# kinject benchmark", "",
           "Generated by `python bench/run.py` (issue 7); do not edit by hand. Bundles: N Online Boutique style "
           "Deployments + N Services with their comments and license headers (`bench/manifests/`, renamed copies, "
           "`bench/generate.py`), one Namespace labelled `istio-injection: enabled`. Every command is a whole "
           "process (median of the runs); the floors are measured in the same run, side by side.", "",
           f"Machine: {machine_line(results['machine'])}.", ""]
    if plot:
        out += [f"![time vs N, log-log]({plot.name})", ""]
    out += [tables(results), ""]
    return "\n".join(out)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    styles = {"fn": ("C0", "o-", 2.5), "inject": ("C1", "s--", 1.5), "scan": ("C2", "^-", 1.5),
              "ruamel": ("C3", "v-", 1.5), "kubectl": ("C4", "D-", 1.5)}
    for name, (color, style, width) in styles.items():
        pts = [(e["n"], med(e, name)) for e in results["results"] if med(e, name) is not None]
        if pts:
            ax.plot(*zip(*pts), style, color=color, lw=width, label=LABELS[name])
    py = results["python"] or {}
    if py.get("status") == "ok":
        ax.axhline(py["median_s"], color="grey", ls=":", label="python -c pass")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("workloads N (bundle: N Deployments + N Services)")
    ax.set_ylabel("wall time, s (median)")
    ax.set_title("kinject vs the floors, whole processes")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    import textwrap

    fig.text(0.01, 0.01, "\n".join(textwrap.wrap(machine_line(results["machine"]), 170)), fontsize=6,
             color="grey")
    fig.subplots_adjust(bottom=0.15)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 100, 1000, 2000, 5000])
    ap.add_argument("--runs", type=int, default=5, help="runs per command (x3 for N <= 10; fewer for big N)")
    ap.add_argument("--ruamel-max", type=int, default=5000, help="skip the ruamel round-trip above this N")
    ap.add_argument("--kubectl-max", type=int, default=5000, help="skip kubectl kustomize above this N")
    ap.add_argument("--kubectl", help="kubectl binary (default: .tools/bin/kubectl, then PATH; 'none' to skip)")
    ap.add_argument("--no-kubectl", action="store_true")
    ap.add_argument("--kinject", help="kinject executable (default: the one beside this Python)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="per process, seconds; a command that fails or times out is skipped at larger N")
    ap.add_argument("--no-repeat-after", type=float, default=60,
                    help="a command whose first run takes longer (s) is not repeated at that N")
    ap.add_argument("--work", type=Path, default=HERE / "out" / "work", help="generated bundles and outputs")
    ap.add_argument("--json", type=Path, default=HERE / "out" / "results.json")
    ap.add_argument("--markdown", type=Path, default=ROOT / "docs" / "benchmark.md")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "benchmark.png")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--from-json", type=Path, help="measure nothing: rebuild the report from a results.json")
    ap.add_argument("--snapshot", action="store_true",
                    help="run kinject as committed at HEAD (git archive into --work), not the working tree")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)

    if args.from_json:
        results = json.loads(args.from_json.read_text())
        results["targets"] = targets(results)
        for e in results["results"]:
            e["ratios"] = ratios(e, results["python"])
    else:
        results = run(args)
    plot_path = None
    if not args.no_plot:
        try:
            plot(results, args.plot)
            plot_path = args.plot
        except ImportError:
            results["notes"].append("matplotlib not installed (pip install -e '.[bench]'): no plot")
    print(f"Machine: {machine_line(results['machine'])}\n")
    print(tables(results))
    for t in results["targets"]:
        print(f"{t['status']}: {t['description']} -- {t['detail']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(markdown(results, plot_path))
    return 1 if any(t["status"] == "FAIL" for t in results["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
