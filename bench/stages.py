#!/usr/bin/env python3
"""Where `kinject fn` / `kinject inject` spend their time, in real milliseconds (not a sampling profile).

Wraps a fixed list of kinject functions with timers (outermost call only, so recursion is not counted twice),
runs the command in this process on a bundle, and prints the cumulative wall and CPU time of each, with the
import time of the first import of kinject's modules. The wrappers cost ~1 us per call.

Usage: python bench/stages.py fn bench/out/work/rl-1000.yaml
       python bench/stages.py inject bench/out/work/kustomize-1000/resources.yaml --config bench/out/work/config.yaml
"""

from __future__ import annotations

import functools
import gc
import importlib
import io
import sys
import time
from pathlib import Path

WRAP = [
    "kinject.limits:check_input", "kinject.limits:check_nodes",
    "kinject.yamltext:compose_all", "kinject.yamltext:to_data",
    "kinject.yamltext:dump_block", "kinject.yamltext:TextEditor.edit_node", "kinject.yamltext:TextEditor.apply",
    "kinject.stream:load", "kinject.krm:run", "kinject.krm:_function_config",
    "kinject.pipeline:run", "kinject.pipeline:_inject_one", "kinject.pipeline:_record_edit",
    "kinject.pipeline:build_profiles",
    "kinject.undo:record", "kinject.undo:embed", "kinject.undo:restore",
    "kinject.inject:inject_pod", "kinject.render:RenderCache.render_owned", "kinject.merge:merge_pod",
    "kinject.commands.inject:join_stream",
]

totals: dict[str, list[float]] = {}
depth: dict[str, int] = {}


def wrap(owner, attr: str, label: str) -> None:
    fn = getattr(owner, attr)
    totals[label] = [0.0, 0.0, 0]

    @functools.wraps(fn)
    def timed(*a, **k):
        if depth.get(label):
            return fn(*a, **k)
        depth[label] = 1
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*a, **k)
        finally:
            t = totals[label]
            t[0] += time.perf_counter() - t0
            t[1] += time.process_time() - c0
            t[2] += 1
            depth[label] = 0

    setattr(owner, attr, timed)


def install() -> None:
    for spec in WRAP:
        mod_name, path = spec.split(":")
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        owner = mod
        *parents, attr = path.split(".")
        for p in parents:
            owner = getattr(owner, p, None)
        if owner is None or not hasattr(owner, attr):
            continue
        wrap(owner, attr, spec)
        # names imported by value into other kinject modules (from .x import f) must be patched there too
        for other in list(sys.modules.values()):
            if (getattr(other, "__name__", "") or "").startswith("kinject") and other is not mod and not parents:
                if getattr(other, attr, None) is getattr(mod, attr).__wrapped__:
                    setattr(other, attr, getattr(mod, attr))


def main() -> None:
    command, path, *rest = sys.argv[1:]
    data = Path(path).read_bytes()
    t0 = time.perf_counter()
    import kinject.cli  # noqa: F401
    import kinject.inject  # noqa: F401 - the engine and its imports (Jinja2)
    import kinject.krm  # noqa: F401
    import kinject.commands.inject  # noqa: F401
    import kinject.inputs  # noqa: F401
    t_import = time.perf_counter() - t0
    install()
    gc.disable()
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    out = io.StringIO()
    real_stdout = sys.stdout
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        sys.stdout = out
        if command == "fn":
            from kinject import krm
            from kinject.stream import decode

            result = krm.run(decode(data, "stdin"))
            out.write(result.stdout)
        else:
            from kinject.commands.inject import run
            from kinject.inputs import Options

            config = rest[rest.index("--config") + 1] if "--config" in rest else None
            sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
            run(Options(["-"], config, None, None, None, None, None), quiet=True)
    finally:
        sys.stdout = real_stdout
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{command} on {path} ({len(data) / 1024:.0f} KiB): {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU "
          f"(imports before: {t_import * 1000:.0f} ms; output {len(out.getvalue()) / 1024:.0f} KiB)")
    print(f"{'function':58} {'calls':>7} {'wall ms':>9} {'cpu ms':>9}")
    for label, (w, c, n) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
        if n:
            print(f"{label:58} {n:7d} {w * 1000:9.1f} {c * 1000:9.1f}")


if __name__ == "__main__":
    main()
