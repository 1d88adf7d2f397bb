"""The human report `kinject inject` prints on stderr, in the shape Linkerd users know (reference
other-injectors.md §b), improved: every line names the namespace, and every line that is not an injection says
why, with the whole reason chain.

    <blank line>
    ‼ deployment/web in namespace "shop": <warning>            (warnings first, like Linkerd's check lines)
    <blank line>                                                (only after warnings)
    deployment "web" in namespace "shop" injected
    deployment "api" in namespace "shop" injected (sidecar already current)
    daemonset "agent" in namespace "shop" skipped: namespace 'shop' has istio-injection=enabled; the pod uses hostNetwork
    deployment "bad" in namespace "shop" error: <message>
    3 injected (1 already current), 1 skipped, 1 errors
    <blank line>

Glyphs: ‼ (U+203C) like Linkerd's warnStatus; plain text (no colour) as Linkerd prints when stderr is not a
terminal. `Progress` shows a one-line counter on stderr for long runs, only when stderr is a terminal.
"""

from __future__ import annotations

import re
import sys
import time
from typing import Callable, TextIO

from .pipeline import Outcome, Report

WARN = "\u203c"
_STATUSES = ("injected", "unchanged", "skipped", "error")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """`text` safe to print on a terminal, on one line: control characters (terminal escape sequences in an
    object name, newlines in a value) are shown as \\xNN / \\uNNNN escapes instead of being sent raw."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def _where(o: Outcome) -> str:
    return f'{o.ref.kind.lower()} "{o.ref.name}" in namespace "{o.ref.namespace}"'


def line(o: Outcome) -> str:
    """The summary line of one workload."""
    if o.status == "injected":
        revision = o.decision.revision if o.decision else None
        suffix = f" (revision {revision})" if revision and revision != "default" else ""
        return f"{_where(o)} injected{suffix}"
    if o.status == "unchanged":
        return f"{_where(o)} injected (sidecar already current)"
    if o.status == "skipped":
        reason = o.decision.reason if o.decision is not None and o.decision.reasons else \
            o.message.removeprefix("skipped: ")
        return f"{_where(o)} skipped: {reason}"
    return f"{_where(o)} error: {o.message}"


def warning_lines(report: Report) -> list[str]:
    out = []
    for o in report.outcomes:
        out += [f'{WARN} {o.ref.kind.lower()}/{o.ref.name} in namespace "{o.ref.namespace}": {w}'
                for w in o.warnings]
    for message, ref in report.warnings:
        where = f'{ref.kind.lower()}/{ref.name}: ' if ref is not None else ""
        out.append(f"{WARN} {where}{message}")
    return out


def summary(report: Report) -> str:
    counts = {s: sum(o.status == s for o in report.outcomes) for s in _STATUSES}
    return (f"{counts['injected'] + counts['unchanged']} injected ({counts['unchanged']} already current), "
            f"{counts['skipped']} skipped, {counts['error']} errors")


def lines(report: Report) -> list[str]:
    """The whole report, one string per line (blank lines included)."""
    out = [""]
    warnings = warning_lines(report)
    if warnings:
        out += warnings + [""]
    out += [line(o) for o in report.outcomes]
    if report.outcomes:
        out.append(summary(report))
    else:
        out.append("no workloads in the input")
    out.append("")
    return [printable(entry) for entry in out]


def write(report: Report, stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    stream.write("\n".join(lines(report)) + "\n")
    stream.flush()


class Progress:
    """A one-line `injecting 120/500 workloads` counter on stderr, for long runs on a terminal only.

    Nothing is written unless the stream is a terminal AND (there are at least `min_total` workloads or
    `delay` seconds have passed); the line is erased when done, so the report that follows starts clean.
    It never touches stdout. `clock` is injectable so tests need not sleep.
    """

    def __init__(self, total: int, stream: TextIO | None = None, *, label: str = "injecting",
                 min_total: int = 500, delay: float = 1.0, every: int = 25,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.label = label
        self.min_total = min_total
        self.delay = delay
        self.every = max(1, every)
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.shown = False
        self.enabled = _is_terminal(self.stream)

    def __call__(self, done: int, total: int) -> None:
        """The callback form, for a pipeline that reports `(workloads done, workloads found)`."""
        self.total = total
        self.tick(done - self.done)

    def tick(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled or self.total <= 0:
            return
        if not self.shown and self.total < self.min_total and self.clock() - self.start < self.delay:
            return
        if self.shown and self.done % self.every and self.done < self.total:
            return
        self.stream.write(f"\r{self.label} {self.done}/{self.total} workloads")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.shown = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
