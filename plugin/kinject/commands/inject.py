"""`kinject inject`: the same engine over plain YAML streams (pipes, Helm post-renderers, files)."""

from __future__ import annotations

import sys
from typing import Iterable

from .. import pipeline
from ..errors import KinjectError
from ..files import write_all_atomic
from ..inputs import Options, read
from ..report import Progress, lines
from .explain import one_run


def run(options: Options, *, in_place: bool = False, quiet: bool = False) -> int:
    """Exit code 0 on success, 1 on any error (nothing written then)."""
    with one_run():  # one short run over a large object graph without cycles: see commands/fn.py
        return _run(options, in_place, quiet)


def _run(options: Options, in_place: bool, quiet: bool) -> int:
    try:
        inputs = read(options, lean=True)
        with Progress(0) as progress:  # a counter on stderr, for long runs on a terminal only
            report = pipeline.run(
                inputs.sources,
                inputs.config,
                fallback_namespace=inputs.namespace,
                extra_namespaces=inputs.extra_namespaces,
                cluster_overrides=inputs.cluster,
                progress=None if quiet else progress,
            )
    except KinjectError as exc:
        print(f"kinject: {exc}", file=sys.stderr)
        return 1
    if not quiet or report.errors:
        for line in lines(report):
            print(line, file=sys.stderr)
    if report.errors:
        return 1
    if in_place:
        return write_in_place(inputs.paths, inputs.sources, (source.editor.apply() for source in inputs.sources))
    write_stream([source.editor for source in inputs.sources], sys.stdout)
    sys.stdout.flush()
    return 0


def write_in_place(paths: list, sources: list[pipeline.Source], texts: Iterable[str]) -> int:
    """--in-place: every file whose text changed is written back, all of them or none; the text read from
    stdin (path None) goes to stdout. `texts` are the new texts of `sources`. Exit code 0, or 1 when the
    files could not be written."""
    changes = []
    for path, source, text in zip(paths, sources, texts):
        if path is None:
            sys.stdout.write(text)
        elif text != source.editor.text:
            changes.append((path, text))
    try:
        write_all_atomic(changes)  # all files change, or none
    except KinjectError as exc:
        print(f"kinject: {exc}", file=sys.stderr)
        return 1
    return 0


def write_stream(editors: list, stream) -> None:
    """The edited texts as one YAML stream, written piece by piece (never built whole: see krm.FnResult)."""
    ends_with_newline = True
    for i, editor in enumerate(editors):
        if i and not editor.text.lstrip().startswith("---"):
            stream.write("---\n" if ends_with_newline else "\n---\n")
            ends_with_newline = True
        for piece in editor.pieces():
            if piece:
                stream.write(piece)
                ends_with_newline = piece.endswith("\n")
    if not ends_with_newline:
        stream.write("\n")


def join_stream(texts: list[str]) -> str:
    parts = []
    for i, text in enumerate(texts):
        if i and not text.lstrip().startswith("---"):
            parts.append("---\n")
        parts.append(text if text.endswith("\n") else text + "\n")
    return "".join(parts)
