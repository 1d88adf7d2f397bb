"""`kinject check`: is every workload's sidecar what `kinject inject` would write now? Changes nothing.

Exit 0 when every workload the policy injects carries a current sidecar; exit 1 listing each one that has
none, a stale one (re-injection would change it: other templates, settings, Istio version, or edits made
after injection), or that carries a sidecar the policy no longer wants; also exit 1 on errors. For CI and
the `kinject-check` pre-commit hook.
"""

from __future__ import annotations

import json
import sys

from .. import pipeline, undo
from ..inputs import Options
from .explain import console_for, file_entry, run_with_analysis

PROBLEMS = ("missing", "stale", "unwanted", "error")


def classify(o: pipeline.Outcome) -> tuple[str, str]:
    """(state, detail): state is "current", "skipped" (no sidecar and none wanted) or one of PROBLEMS.
    Decided on `o.before`, the workload's pod template (every outcome of a readable template carries it)."""
    has_status = o.before is not None and undo.status_of(o.before) is not None
    if o.status == "error":
        return "error", o.message
    if o.status == "unchanged":
        return "current", "sidecar current"
    if o.status == "injected":
        if not has_status:
            return "missing", "no sidecar (run kinject inject)"
        detail = "stale sidecar: re-injection would change it"
        if undo.edited(o.before):
            detail += " (the pod was edited after injection)"
        from .diff import changes, summary_lines

        lines = summary_lines(changes(o.before, o.after))
        if lines:
            shown = "; ".join(line[2:] for line in lines[:3])
            more = f" (+{len(lines) - 3} more)" if len(lines) > 3 else ""
            detail += f": {shown}{more}"
        return "stale", detail
    # skipped by the policy
    if has_status:
        reason = o.decision.reason if o.decision else o.message
        return "unwanted", f"carries a sidecar but the policy skips it ({reason}); run kinject uninject"
    return "skipped", o.decision.reason if o.decision else o.message


def results(report: pipeline.Report) -> list[dict]:
    out = []
    for o in report.outcomes:
        state, detail = classify(o)
        entry = {"apiVersion": o.ref.api_version, "kind": o.ref.kind, "namespace": o.ref.namespace,
                 "name": o.ref.name, "state": state, "ok": state not in PROBLEMS, "detail": detail}
        if file_entry(o):
            entry["file"] = file_entry(o)
        out.append(entry)
    return out


def run(options: Options, *, output: str = "table") -> int:
    return run_with_analysis(options, output, _report)


def _report(analysis, output: str) -> int:
    rows = results(analysis.report)
    failed = [r for r in rows if not r["ok"]]
    if output == "json":
        sys.stdout.write(json.dumps({"ok": not failed, "workloads": rows}, indent=2) + "\n")
        return 1 if failed else 0
    from rich.markup import escape as _escape

    from ..report import printable

    def escape(text: str) -> str:
        return _escape(printable(text))

    console = console_for(sys.stdout)
    for r in failed:
        where = f" ({r['file']['path']})" if r.get("file") else ""
        console.print(f"[red]✗[/] {escape(r['kind'])} {escape(r['namespace'])}/{escape(r['name'])}{escape(where)}: {escape(r['detail'])}",
                      soft_wrap=True)
    counts = {s: sum(r["state"] == s for r in rows) for s in ("current", "skipped", *PROBLEMS)}
    summary = (f"{counts['current']} current, {counts['missing']} missing, {counts['stale']} stale, "
               f"{counts['unwanted']} unwanted, {counts['error']} errors, {counts['skipped']} not injected")
    if failed:
        console.print(f"kinject check failed: {summary}", soft_wrap=True)
    else:
        console.print(f"[green]✓[/] every sidecar is current: {summary}", soft_wrap=True)
    console.file.flush()
    return 1 if failed else 0
