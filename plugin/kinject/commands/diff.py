"""`kinject diff`: what injection would change, per workload, in terms people think in: containers, init
containers, volumes, image pull secrets added/removed/changed (by name), labels and annotations added, changed
or removed, and any other pod field changed. Built on DeepDiff over the pod template before and after a dry run,
with named lists turned into maps first, so a change reads `container web: readinessProbe.httpGet.port` rather
than `root['spec']['containers'][1]...`. Exit 0 (changes or not), 1 on errors.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from .. import pipeline
from ..inputs import Options
from ..post.status import STATUS_ANNOTATION
from .explain import console_for, run_with_analysis

_NAMED_LISTS = {"containers": "container", "initContainers": "initContainer", "volumes": "volume",
                "imagePullSecrets": "imagePullSecret", "ephemeralContainers": "ephemeralContainer"}
_CONTAINER_LISTS = ("env", "ports", "volumeMounts")
_PATH_PART = re.compile(r"\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\d+)\]")


def _keyed(value: Any, key: str) -> Any:
    if not isinstance(value, list) or not value:
        return value
    names = [v.get(key) if isinstance(v, dict) else None for v in value]
    if any(not isinstance(n, (str, int)) for n in names) or len(set(names)) != len(names):
        return value
    return {n: v for n, v in zip(names, value)}


def normalise(template: dict | None) -> dict:
    """The pod template with named lists as maps (containers by name, env by name, mounts by path...)."""
    template = template or {}
    meta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    spec = dict(template.get("spec")) if isinstance(template.get("spec"), dict) else {}
    for key in _NAMED_LISTS:
        items = spec.get(key)
        if isinstance(items, list):
            converted = []
            for item in items:
                if isinstance(item, dict) and key.endswith("ontainers"):
                    item = dict(item)
                    for sub, field in (("env", "name"), ("ports", "containerPort"), ("volumeMounts", "mountPath")):
                        item[sub] = _keyed(item.get(sub), field) if sub in item else None
                        if item[sub] is None:
                            del item[sub]
                converted.append(item)
            spec[key] = _keyed(converted, "name")
    for key in _NAMED_LISTS:  # absent and empty compare equal: additions then read item by item
        if spec.get(key) in (None, []):
            spec[key] = {}
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    return {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}


def _parts(path: str) -> list:
    out = []
    for token in _PATH_PART.findall(path):
        if token[0] in "'\"":
            out.append(token[1:-1].replace("\\'", "'"))
        else:
            out.append(int(token))
    return out


def changes(before: dict | None, after: dict | None) -> list[dict]:
    """The changes injection makes to a pod template, one per added/removed/changed item:
    {"op": "add"|"remove"|"change", "what": "container"|"label"|..., "name": ..., "field": ..., "old"/"new"}."""
    from deepdiff import DeepDiff  # 140 ms of imports: only when a diff is asked for

    diff = DeepDiff(normalise(before), normalise(after), verbose_level=2, threshold_to_diff_deeper=0)
    out: list[dict] = []
    for kind, op in (("dictionary_item_added", "add"), ("dictionary_item_removed", "remove"),
                     ("iterable_item_added", "add"), ("iterable_item_removed", "remove"),
                     ("values_changed", "change"), ("type_changes", "change")):
        for path, value in (diff.get(kind) or {}).items():
            parts = _parts(path)
            entry = _describe(parts, op)
            if op == "change":
                entry["old"], entry["new"] = value.get("old_value"), value.get("new_value")
            elif op == "add":
                entry["new"] = value
            else:
                entry["old"] = value
            out.append(entry)
    out.sort(key=_order)
    return out


_WHAT_ORDER = ["initContainer", "container", "volume", "imagePullSecret", "label", "annotation", "spec",
               "metadata"]


def _order(entry: dict) -> tuple:
    what = entry["what"]
    return (_WHAT_ORDER.index(what) if what in _WHAT_ORDER else 99, {"add": 0, "change": 1, "remove": 2}[entry["op"]])


def _describe(parts: list, op: str) -> dict:
    if len(parts) >= 2 and parts[0] == "metadata" and parts[1] in ("labels", "annotations"):
        what = parts[1][:-1]
        if len(parts) == 2:
            return {"op": op, "what": f"{what}s map", "name": "", "field": ""}
        return {"op": op, "what": what, "name": str(parts[2]), "field": _field(parts[3:])}
    if len(parts) >= 2 and parts[0] == "spec" and parts[1] in _NAMED_LISTS:
        what = _NAMED_LISTS[parts[1]]
        if len(parts) == 2:
            return {"op": op, "what": what + "s", "name": "", "field": ""}
        return {"op": op, "what": what, "name": str(parts[2]), "field": _field(parts[3:])}
    return {"op": op, "what": parts[0] if parts else "pod", "name": "", "field": _field(parts[1:])}


def _field(parts: list) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p):
            out += ("." if out else "") + p
        else:
            out += f"[{p}]"
    return out


def workload_diffs(report: pipeline.Report) -> list[dict]:
    out = []
    for o in report.outcomes:
        entry = {"apiVersion": o.ref.api_version, "kind": o.ref.kind, "namespace": o.ref.namespace,
                 "name": o.ref.name, "status": _status(o), "revision": o.decision.revision if o.decision else None}
        if o.status == "injected":
            entry["changes"] = changes(o.before, o.after)
        elif o.status == "error":
            entry["error"] = o.message
        elif o.status == "skipped":
            entry["reason"] = o.decision.reason if o.decision else o.message
        out.append(entry)
    return out


def _status(o: pipeline.Outcome) -> str:
    return {"injected": "changes", "unchanged": "current", "skipped": "skipped", "error": "error"}[o.status]


def run(options: Options, *, output: str = "table") -> int:
    return run_with_analysis(options, output, _report)


def _report(analysis, output: str) -> int:
    diffs = workload_diffs(analysis.report)
    if output == "json":
        sys.stdout.write(json.dumps(diffs, indent=2, default=str) + "\n")
    else:
        print_diffs(diffs)
    return 1 if any(d["status"] == "error" for d in diffs) else 0


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_lines(changes_: list[dict]) -> list[str]:
    """Readable lines: whole containers/volumes/labels/annotations added or removed are grouped on one line
    (at the place of the first of them), field changes one per line."""
    out: list[Any] = []  # strings, or the lists of grouped items (filled in place)
    groups: dict[tuple[str, str], list[str]] = {}
    for c in changes_:
        item = None
        if not c["field"] and c["what"] in ("initContainer", "container", "volume", "imagePullSecret") \
                and c["op"] in ("add", "remove"):
            item = c["name"]
            value = c.get("new") if c["op"] == "add" else c.get("old")
            if c["what"].endswith("ontainer") and isinstance(value, dict) and value.get("image"):
                item += f" ({value['image']})"
        elif not c["field"] and c["what"] in ("label", "annotation") and c["op"] in ("add", "remove"):
            if c["name"] == STATUS_ANNOTATION and c["op"] == "add":
                item = f"{c['name']} (what was injected)"
            else:
                value = c.get("new") if c["op"] == "add" else c.get("old")
                item = f"{c['name']}={_short(value, 40)}"
        if item is None:
            out.append(_line(c))
            continue
        key = (c["op"], c["what"] + "s")
        if key not in groups:
            groups[key] = []
            out.append((key, groups[key]))
        groups[key].append(item)
    sign = {"add": "+", "remove": "-"}
    return [entry if isinstance(entry, str) else f"{sign[entry[0][0]]} {entry[0][1]}: {', '.join(entry[1])}"
            for entry in out]


def _line(c: dict) -> str:
    subject = f"{c['what']} {c['name']}".strip()
    where = f"{subject}: {c['field']}" if c["field"] else subject
    if c["op"] == "change":
        return f"~ {where}: {_short(c['old'])} → {_short(c['new'])}"
    if c["op"] == "add":
        return f"+ {where}: {_short(c['new'])}"
    return f"- {where}: {_short(c['old'])}"


_COLOURS = {"+": "green", "-": "red", "~": "yellow"}


def print_diffs(diffs: list[dict]) -> None:
    from rich.markup import escape as _escape

    from ..report import printable

    def escape(text: str) -> str:
        return _escape(printable(text))

    console = console_for(sys.stdout)
    counts = {"changes": 0, "current": 0, "skipped": 0, "error": 0}
    for d in diffs:
        counts[d["status"]] += 1
        title = f"{d['kind']} {d['namespace']}/{d['name']}"
        if d["status"] == "changes":
            rev = f" (revision {d['revision']})" if d["revision"] and d["revision"] != "default" else ""
            console.print(f"[bold]{escape(title)}[/]{escape(rev)}", soft_wrap=True)
            for line in summary_lines(d["changes"]):
                console.print(f"  [{_COLOURS[line[0]]}]{escape(line)}[/]", soft_wrap=True)
        elif d["status"] == "error":
            console.print(f"[bold]{escape(title)}[/]: [red]error: {escape(d['error'])}[/]", soft_wrap=True)
    quiet = [d for d in diffs if d["status"] in ("current", "skipped")]
    if quiet and counts["changes"]:
        console.print("")
    for d in quiet:
        what = "sidecar current, no change" if d["status"] == "current" else f"skipped: {d['reason']}"
        console.print(escape(f"{d['kind']} {d['namespace']}/{d['name']}: {what}"), soft_wrap=True)
    console.print(f"{counts['changes']} would change, {counts['current']} already current, "
                  f"{counts['skipped']} skipped, {counts['error']} errors", soft_wrap=True)
    console.file.flush()
