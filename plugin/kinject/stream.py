"""Plain YAML streams (files, stdin, post-renderers): many documents in, the same documents (edited) out."""

from __future__ import annotations

from yaml.nodes import Node

from .errors import InputError
from .limits import check_input, check_nodes
from .pipeline import Source
from .scan import scan
from .yamltext import TextEditor, compose_all, dump_document, is_block, to_data


def decode(data: bytes, name: str) -> str:
    """UTF-8 text of raw input; a clear error (with the byte offset) instead of a UnicodeDecodeError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{name}: not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at line {line}, "
                         f"byte offset {exc.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


def load(name: str, text: str, limits=None, *, lean: bool = False) -> Source:
    """Compose a YAML stream into a pipeline Source; JSON/flow documents are turned into block YAML first.

    `lean`: scan instead of composing (see scan.py), for the commands that only inject; falls back to
    composing when the stream has aliases, flow documents or a ResourceList."""
    check_input(text, limits)
    if lean:
        try:
            sc = scan(text, resource_list=False)
        except InputError as exc:
            raise InputError(f"{name}: {exc.message}") from None
        if sc is not None and not any(o.flow for o in sc.objects) and not any(
            o.kind == "ResourceList" for o in sc.objects
        ):
            labels = [f"{name} document {i + 1}" for i in range(len(sc.objects))]
            return Source(name, TextEditor(text), [], labels, sc.objects)
    roots = _compose(name, text)
    if any(_is_flow(r) for r in roots):
        text = _blockify(text, roots)
        roots = _compose(name, text)
    for root in roots:
        check_nodes(root, limits, text)
    labels = [f"{name} document {i + 1}" for i in range(len(roots))]
    return Source(name, TextEditor(text), roots, labels)


def _compose(name: str, text: str) -> list[Node]:
    try:
        return compose_all(text)
    except InputError as exc:
        raise InputError(f"{name}: {exc.message}") from None


def _is_flow(node: Node) -> bool:
    return not is_block(node) and hasattr(node, "flow_style")


def _blockify(text: str, roots: list[Node]) -> str:
    out, pos = [], 0
    for root in roots:
        if _is_flow(root):
            out.append(text[pos : root.start_mark.index])
            out.append(dump_document(to_data(root)).rstrip("\n"))
            pos = root.end_mark.index
    out.append(text[pos:])
    return "".join(out)

