"""`kinject uninject`: remove what kinject injected, exactly (its undo record), or what Istio's webhook injected,
best effort (reference §5). Workloads that carry no `sidecar.istio.io/status` are left alone, byte for byte.

The report on stderr has Linkerd's `uninject` shape with the namespace, and says how each workload was
handled. Comments and formatting of the input survive: only the edited spans of the text change.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from yaml.nodes import MappingNode, Node

from .. import undo, workloads
from ..errors import KinjectError
from ..inputs import Options, read
from ..pipeline import Source, edit_at_path
from ..report import printable
from ..yamltext import node_at, to_data
from .explain import one_run, workload_nodes
from .inject import join_stream, write_in_place


@dataclass
class Result:
    ref: workloads.ObjectRef
    status: str  # "uninjected" (exact), "best-effort" (Istio, or edited since injection), "skipped"
    message: str


def run(options: Options, *, in_place: bool = False, quiet: bool = False) -> int:
    with one_run():
        return _run(options, in_place, quiet)


def _run(options: Options, in_place: bool, quiet: bool) -> int:
    try:
        inputs = read(options)
        results = uninject_sources(inputs.sources, inputs.namespace)
    except KinjectError as exc:
        print(f"kinject: {exc}", file=sys.stderr)
        return 1
    if not quiet:
        for line in report_lines(results):
            print(line, file=sys.stderr)
    outputs = [source.editor.apply() for source in inputs.sources]
    if in_place:
        return write_in_place(inputs.paths, inputs.sources, outputs)
    sys.stdout.write(join_stream(outputs))
    sys.stdout.flush()
    return 0


def uninject_sources(sources: list[Source], default_namespace: str = "default") -> list[Result]:
    """Record, in each source's editor, the edits that uninject its workloads."""
    results = []
    for source, node, template in workload_nodes(sources):
        ref = workloads.object_ref(node)
        ref = workloads.ObjectRef(ref.api_version, ref.kind, ref.name, ref.namespace or default_namespace)
        data = to_data(template) if template is not None else None
        if not isinstance(data, dict):
            results.append(Result(ref, "skipped", "no pod template"))
            continue
        new, result = uninject_template(data, ref)
        if new is None and ref.kind == "CronJob":
            done = _uninject_kube_inject_cronjob(source, node, data, ref)
            if done is not None:
                results.append(done)
                continue
        results.append(result)
        if new is not None:
            _edit(source, node, template, data, new, ref.kind)
    return results


def _uninject_kube_inject_cronjob(source: Source, node: MappingNode, template: dict,
                                  ref: workloads.ObjectRef) -> Result | None:
    """`istioctl kube-inject` writes a CronJob's injected labels and annotations on spec.jobTemplate.metadata
    (reference §1.4), with the containers in the pod template: uninject the two halves together."""
    job_template = node_at(node, "spec", "jobTemplate")
    if job_template is None:
        return None
    old = to_data(job_template)
    if not isinstance(old, dict) or not isinstance(old.get("metadata"), dict):
        return None
    if undo.status_of({"metadata": old["metadata"]}) is None:
        return None
    combined = {"metadata": old["metadata"], "spec": template.get("spec") or {}}
    back = undo.istio_uninject(combined, ref.name)
    if back is None:
        return None
    new = {k: v for k, v in old.items() if k != "metadata"}
    if "metadata" in back:
        new = {"metadata": back["metadata"], **new}
    new["spec"] = dict(new.get("spec") or {})
    new["spec"]["template"] = {**template, "spec": back["spec"]}
    edit_at_path(source.editor, node, job_template, old, new, ("spec", "jobTemplate"), keep_other_keys=False)
    return Result(ref, "best-effort", "uninjected (best effort: istioctl kube-inject style, annotations on "
                                      "spec.jobTemplate.metadata)")


def uninject_template(template: dict, ref: workloads.ObjectRef) -> tuple[dict | None, Result]:
    """The pod template without its injection (None when there is nothing to remove) and what was done."""
    restored = undo.restore(template)
    if restored is not None:
        note = ""
        if undo.status_of(restored) is not None:  # kinject re-injected a pod Istio (or istioctl) had injected
            note = " (back to the input kinject was given, which already carried a sidecar: run uninject again " \
                   "to remove that one, best effort)"
        if undo.edited(template):
            return restored, Result(ref, "best-effort", "uninjected (edited since injection: kinject's record "
                                                        f"applied where it still fits, later edits kept){note}")
        return restored, Result(ref, "uninjected", f"uninjected{note}")
    istio = undo.istio_uninject(template, ref.name)
    if istio is not None:
        return istio, Result(ref, "best-effort", "uninjected (best effort: no kinject record, injected by "
                                                 "Istio or an older kinject)")
    return None, Result(ref, "skipped", "skipped: not injected (no sidecar.istio.io/status)")


def report_lines(results: list[Result]) -> list[str]:
    out = [""]  # Linkerd's shape: blank lines around the report, so it stands apart from YAML on a terminal
    for r in results:
        out.append(f'{r.ref.kind.lower()} "{r.ref.name}" in namespace "{r.ref.namespace}" {r.message}')
    if results:
        done = sum(r.status != "skipped" for r in results)
        best = sum(r.status == "best-effort" for r in results)
        out.append(f"{done} uninjected ({best} best effort), {len(results) - done} skipped")
    else:
        out.append("no workloads in the input")
    out.append("")
    return [printable(entry) for entry in out]


def _edit(source: Source, node: MappingNode, template: Node, old: dict, new: dict, kind: str) -> None:
    """Same strategy as the pipeline (in place, else the object rewritten); a bare Pod becomes `new`."""
    edit_at_path(source.editor, node, template, old, new, workloads.POD_TEMPLATE_PATHS[kind],
                 keep_other_keys=False)
