"""`kinject explain`: for every workload, the decision, the chain of reasons behind it, the revision and the
templates that would apply, and the state of its sidecar. Nothing is changed.

Also home of `analyse()`, the dry run that `check` and `diff` share.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode

from .. import pipeline, undo
from ..config import ClusterConfig, build_profiles, is_cluster_configmap
from ..errors import KinjectError
from ..inputs import Inputs, Options, read
from ..yamltext import node_at, scalar_at, to_data

TEMPLATES_ANNOTATION = "inject.istio.io/templates"
OUTPUTS = ("table", "json")


@dataclass
class Analysis:
    inputs: Inputs
    report: pipeline.Report
    profiles: Any  # config.Profiles, or None when the config could not be built


def analyse(options: Options) -> Analysis:
    """Read the input and run the pipeline without editing anything."""
    inputs = read(options)
    report = pipeline.run(inputs.sources, inputs.config, fallback_namespace=inputs.namespace,
                          extra_namespaces=inputs.extra_namespaces, cluster_overrides=inputs.cluster, dry_run=True)
    try:
        profiles = build_profiles(inputs.config, _cluster(inputs))
    except KinjectError:
        profiles = None
    return Analysis(inputs, report, profiles)


def _cluster(inputs: Inputs) -> ClusterConfig:
    """The cluster ConfigMaps of the bundle, then the flags: what the pipeline builds profiles from."""
    cluster = ClusterConfig()
    for source in inputs.sources:
        for obj in source.objects:
            if (isinstance(obj, MappingNode) and scalar_at(obj, "kind") == "ConfigMap"
                    and scalar_at(obj, "apiVersion") == "v1"
                    and is_cluster_configmap(scalar_at(obj, "metadata", "name") or "")):
                data = node_at(obj, "data")
                data = to_data(data) if data is not None else {}
                cluster.add_configmap(scalar_at(obj, "metadata", "name") or "", data if isinstance(data, dict) else {},
                                      "bundle")
    cluster.values.update(inputs.cluster.values)
    cluster.injector.update(inputs.cluster.injector)
    cluster.mesh.update(inputs.cluster.mesh)
    return cluster


def sidecar_state(outcome: pipeline.Outcome) -> str:
    """"absent", "current" (re-injection changes nothing), "stale" (it would), or "present" (not re-rendered:
    the workload is skipped or in error)."""
    template = outcome.before if outcome.before is not None else None
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
    annotations = ((outcome.before or {}).get("metadata") or {}).get("annotations") or {}
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
        reasons = list(d.reasons) if d is not None else []
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
            "templates": templates_for(o, analysis.profiles),
            "sidecar": sidecar_state(o),
        }
        if o.file:
            entry["file"] = o.file
        elif o.source and o.source not in ("stdin", "items"):
            entry["file"] = {"path": o.source}
        if o.warnings:
            entry["warnings"] = list(o.warnings)
        out.append(entry)
    return out


def run(options: Options, *, output: str = "table") -> int:
    if output not in OUTPUTS:
        print(f"kinject: --output must be one of {', '.join(OUTPUTS)}, got {output!r}", file=sys.stderr)
        return 2
    try:
        analysis = analyse(options)
    except KinjectError as exc:
        print(f"kinject: {exc}", file=sys.stderr)
        return 1
    rows = entries(analysis)
    for message, _ in analysis.report.warnings:
        print(f"warning: {message}", file=sys.stderr)
    if output == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        print_table(rows)
    return 1 if any(r["decision"] == "error" for r in rows) else 0


_STYLE = {"inject": "green", "skip": "yellow", "error": "bold red"}


def print_table(rows: list[dict]) -> None:
    from rich.table import Table

    console = console_for(sys.stdout)
    if not rows:
        console.print("no workloads in the input")
        console.file.flush()
        return
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    for column in ("WORKLOAD", "DECISION", "REVISION", "TEMPLATES", "SIDECAR", "WHY"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            f"{r['kind']} {r['namespace']}/{r['name']}",
            f"[{_STYLE[r['decision']]}]{r['decision']}[/]",
            r["revision"] or "-",
            ",".join(r["templates"]) or "-",
            r["sidecar"],
            "\n".join(f"{'→ ' if i else ''}{reason}" for i, reason in enumerate(r["reasons"])),
        )
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
