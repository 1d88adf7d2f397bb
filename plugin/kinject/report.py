"""The human report `kinject inject` prints on stderr, in the shape Linkerd users know, with the namespace
and the reason on every line that was not injected."""

from __future__ import annotations

from .pipeline import Report

_MARK = {"injected": "injected", "unchanged": "injected (already current)", "skipped": "skipped", "error": "error"}


def lines(report: Report) -> list[str]:
    out = []
    for o in report.outcomes:
        kind = o.ref.kind.lower()
        where = f"{kind} \"{o.ref.name}\" in namespace \"{o.ref.namespace}\""
        if o.status == "injected":
            out.append(f"{where} injected")
        elif o.status == "unchanged":
            out.append(f"{where} injected (sidecar already current)")
        elif o.status == "skipped":
            out.append(f"{where} skipped: {o.message.removeprefix('skipped: ')}")
        else:
            out.append(f"{where} error: {o.message}")
        out += [f"  warning: {w}" for w in o.warnings]
    out += [f"warning: {m}" for m, _ in report.warnings]
    if report.outcomes:
        counts = {s: sum(o.status == s for o in report.outcomes) for s in _MARK}
        out.append(
            f"{counts['injected'] + counts['unchanged']} injected ({counts['unchanged']} already current), "
            f"{counts['skipped']} skipped, {counts['error']} errors"
        )
    return out
