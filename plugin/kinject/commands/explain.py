"""`kinject explain`: for every workload, the decision, the chain of reasons behind it, the revision and the
templates that would apply, and the state of its sidecar. Nothing is changed.

Also home of `analyse()`, the dry run that `check` and `diff` share.
"""

from __future__ import annotations

import gc
import json
import sys
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from yaml.nodes import MappingNode

from .. import pipeline, undo, workloads
from ..errors import KinjectError
from ..inputs import Inputs, Options, read
from ..profile import TEMPLATES_ANNOTATION

OUTPUTS = ("table", "json")


@dataclass
class Analysis:
    inputs: Inputs
    report: pipeline.Report  # report.profiles: the revisions' profiles; outcome.before: each pod template


@contextmanager
def one_run() -> Iterator[None]:
    """No cyclic GC while a command runs (as `inject` and `fn` do): the data has no cycles, and the collector
    would rescan the whole parsed bundle again and again (it doubles the time of large runs)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def analyse(options: Options) -> Analysis:
    """Read the input and run the pipeline without editing anything."""
    inputs = read(options)
    report = pipeline.run(inputs.sources, inputs.config, fallback_namespace=inputs.namespace,
                          extra_namespaces=inputs.extra_namespaces, cluster_overrides=inputs.cluster, dry_run=True)
    return Analysis(inputs, report)


def workload_nodes(sources: list) -> Iterator[tuple[Any, MappingNode, Any]]:
    """(source, object node, pod template node or None) of every workload, List members included, in the
    order the pipeline reports them."""
    for source in sources:
        for obj in source.objects:
            if not isinstance(obj, MappingNode):
                continue
            ref = workloads.object_ref(obj)
            if workloads.is_workload(ref.api_version, ref.kind):
                yield source, obj, workloads.pod_template_node(obj, ref.kind)
            elif workloads.is_list(ref.api_version, ref.kind):
                for member in workloads.list_members(obj):
                    if isinstance(member, MappingNode):
                        mref = workloads.object_ref(member)
                        if workloads.is_workload(mref.api_version, mref.kind):
                            yield source, member, workloads.pod_template_node(member, mref.kind)


def sidecar_state(outcome: pipeline.Outcome) -> str:
    """"absent", "current" (re-injection changes nothing), "stale" (it would), or "present" (not re-rendered:
    the workload is skipped or in error)."""
    template = outcome.before
    has_status = template is not None and undo.status_of(template) is not None
    if outcome.status == "unchanged":
        return "current"
    if outcome.status == "injected":
        return "stale" if has_status else "absent"
    return "present" if has_status else "absent"


def templates_for(outcome: pipeline.Outcome, profiles: Any) -> list[str]:
    if outcome.decision is None or not outcome.decision.inject or profiles is None:
        return []
    profile = profiles.profiles.get(outcome.decision.revision)
    template = outcome.before or {}
    meta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    annotations = meta.get("annotations") or {}
    requested = annotations.get(TEMPLATES_ANNOTATION) if isinstance(annotations, dict) else None
    if requested:
        return [n.strip() for n in str(requested).split(",") if n.strip()]
    return list(profile.default_templates) if profile is not None else []


def entries(analysis: Analysis) -> list[dict]:
    out = []
    for o in analysis.report.outcomes:
        d = o.decision
        if o.status == "error":
            decision = "error"
        else:
            decision = "inject" if d is not None and d.inject else "skip"
        # policy.decide() can state the same fact twice (webhook selection, then the injector's own check)
        reasons = [r for i, r in enumerate(d.reasons) if not i or r != d.reasons[i - 1]] if d is not None else []
        if o.status == "error":
            reasons.append(f"error: {o.message}")
        entry = {
            "apiVersion": o.ref.api_version,
            "kind": o.ref.kind,
            "namespace": o.ref.namespace,
            "name": o.ref.name,
            "decision": decision,
            "reason": "; ".join(reasons),
            "reasons": reasons,
            "revision": d.revision if d is not None and d.inject else None,
            "templates": templates_for(o, analysis.report.profiles),
            "sidecar": sidecar_state(o),
        }
        if file_entry(o):
            entry["file"] = file_entry(o)
        if o.warnings:
            entry["warnings"] = list(o.warnings)
        out.append(entry)
    return out


def run_with_analysis(options: Options, output: str, report) -> int:
    """The shared driver of explain, check and diff: validate --output, analyse the input once (a dry-run
    pipeline), hand the analysis to `report(analysis, output) -> exit code`."""
    if output not in OUTPUTS:
        print(f"kinject: --output must be one of {', '.join(OUTPUTS)}, got {output!r}", file=sys.stderr)
        return 2
    with one_run():
        try:
            analysis = analyse(options)
        except KinjectError as exc:
            print(f"kinject: {exc}", file=sys.stderr)
            return 1
        return report(analysis, output)


def file_entry(o: pipeline.Outcome) -> dict | None:
    """Where an outcome's object came from, for machine output: the KRM path annotations, else the file."""
    if o.file:
        return o.file
    if o.source and o.source not in ("stdin", "items"):
        return {"path": o.source}
    return None


def run(options: Options, *, output: str = "table") -> int:
    return run_with_analysis(options, output, _report)


def _report(analysis: Analysis, output: str) -> int:
    rows = entries(analysis)
    for message, _ in analysis.report.warnings:
        print(f"warning: {message}", file=sys.stderr)
    if output == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        print_table(rows)
    return 1 if any(r["decision"] == "error" for r in rows) else 0


_STYLE = {"inject": "green", "skip": "yellow", "error": "bold red"}


RICH_MAX_ROWS = 300  # rich measures every cell: 3000 rows take seconds; above this, the plain renderer


def _cells(r: dict) -> list[str]:
    from ..report import printable

    return [printable(f"{r['kind']} {r['namespace']}/{r['name']}"), r["decision"], printable(r["revision"] or "-"),
            printable(",".join(r["templates"]) or "-"), r["sidecar"]]


def _why(r: dict) -> list[str]:
    from ..report import printable

    return [f"{'→ ' if i else ''}{printable(reason)}" for i, reason in enumerate(r["reasons"])]


def plain_table(rows: list[dict], width: int, colour: bool = False) -> list[str]:
    """The table as lines, laid out like the rich one (2-space gutters, the reason chain wrapped in the last
    column), in time linear in the rows."""
    headers = ["WORKLOAD", "DECISION", "REVISION", "TEMPLATES", "SIDECAR", "WHY"]
    cells = [_cells(r) for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers[:-1])]
    indent = sum(widths) + 2 * len(widths)
    why_width = max(30, width - indent)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths + [0])).rstrip()]
    colours = {"inject": "32", "skip": "33", "error": "1;31"}
    for r, c in zip(rows, cells):
        why = [piece for reason in _why(r) for piece in (textwrap.wrap(reason, why_width) or [""])]
        first = "  ".join(v.ljust(w) for v, w in zip(c, widths))
        if colour:
            first = first.replace(c[1].ljust(widths[1]), f"\x1b[{colours[c[1]]}m{c[1]}\x1b[0m"
                                  + " " * (widths[1] - len(c[1])), 1)
        out.append(f"{first}  {why[0] if why else ''}".rstrip())
        out += [" " * indent + piece for piece in why[1:]]
    return out


def print_table(rows: list[dict]) -> None:
    from rich.table import Table

    if len(rows) > RICH_MAX_ROWS:
        import shutil

        tty = sys.stdout.isatty()
        width = shutil.get_terminal_size((132, 24)).columns if tty else 132
        lines = plain_table(rows, width, colour=tty)
        counts = {k: sum(r["decision"] == k for r in rows) for k in ("inject", "skip", "error")}
        lines.append(f"{counts['inject']} to inject, {counts['skip']} skipped, {counts['error']} errors")
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        return
    console = console_for(sys.stdout)
    if not rows:
        console.print("no workloads in the input")
        console.file.flush()
        return
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    for column in ("WORKLOAD", "DECISION", "REVISION", "TEMPLATES", "SIDECAR", "WHY"):
        table.add_column(column, overflow="fold")
    from rich.text import Text

    for r in rows:
        workload, decision, revision, templates, sidecar = _cells(r)
        table.add_row(Text(workload), Text(decision, style=_STYLE[decision]), Text(revision), Text(templates),
                      sidecar, Text("\n".join(_why(r))))
    console.print(table)
    counts = {k: sum(r["decision"] == k for r in rows) for k in ("inject", "skip", "error")}
    console.print(f"{counts['inject']} to inject, {counts['skip']} skipped, {counts['error']} errors")
    console.file.flush()


class _PlainLines:
    """A file-like wrapper that drops the trailing spaces rich pads table cells with (for pipes and files)."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.stream.write(line.rstrip() + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.stream.write(self.pending.rstrip())
            self.pending = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return False


def console_for(stream):
    """A rich Console: colours and the terminal's width on a terminal; plain text, 132 columns wide and with
    no trailing spaces elsewhere (pipes, files, CI logs)."""
    from rich.console import Console

    if stream.isatty():
        return Console(file=stream, highlight=False)
    return Console(file=_PlainLines(stream), width=132, color_system=None, highlight=False, emoji=False)
