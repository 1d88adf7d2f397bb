"""The KRM function exchange: one ResourceList in, the same ResourceList (edited) plus results out.

Like kyaml's `framework.Execute`, this module owns all I/O bookkeeping: reading, validating the shape,
running the pipeline, attaching results, deciding the exit code. The output is the input text with edits
applied, so everything the function does not inject comes out byte for byte.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from yaml.nodes import MappingNode, SequenceNode

from . import pipeline
from .config import FunctionConfig, parse_function_config
from .errors import KinjectError
from .limits import check_input, check_nodes
from .scan import Scan, scan
from .yamltext import (TextEditor, compose_all, compose_slice, dump_block, dump_document, mapping_get,
                       scalar_at, to_data)

API_VERSIONS = ("config.kubernetes.io/v1", "config.kubernetes.io/v1beta1")


@dataclass
class FnResult:
    output: "str | TextEditor"  # the ResourceList text, or the editor that produces it piece by piece
    exit_code: int
    messages: list[str] = field(default_factory=list)  # for stderr, one line each
    report: pipeline.Report | None = None

    @property
    def stdout(self) -> str:
        if not isinstance(self.output, str):
            self.output = self.output.apply()
        return self.output

    def write_to(self, stream) -> None:
        """Write the output without building it whole: on large bundles the text is several times the input."""
        if isinstance(self.output, str):
            stream.write(self.output)
        else:
            for piece in self.output.pieces():
                stream.write(piece)


def process(text: str) -> tuple[str, int]:
    """ResourceList text in → (ResourceList text out, exit code)."""
    result = run(text)
    return result.stdout, result.exit_code


def run(text: str) -> FnResult:
    try:
        check_input(text, None)
    except KinjectError as exc:
        return FnResult("", 1, [f"kinject: {exc}"])
    try:
        lean = scan(text, resource_list=True)
    except KinjectError:
        lean = None  # the composer says it again, with a ResourceList to write the error into when it can
    if lean is not None and lean.documents == 1 and lean.root_is_mapping and not lean.root_flow:
        return _run_lean(text, lean)
    return _run_composed(text)


def _run_lean(text: str, sc: Scan) -> FnResult:
    """The ResourceList as an event scan: only the objects that matter are ever composed (see scan.py)."""
    kind, api_version = sc.root_kind, sc.root_api_version
    if kind != "ResourceList" or api_version not in API_VERSIONS:
        return FnResult("", 1, [f"kinject: {_not_a_resource_list(api_version, kind)}"])
    items = sc.root.get("items")
    if items is not None and not sc.objects and text[items.value_start:items.value_end].strip() not in (
        "", "[]", "null", "~"
    ):
        return FnResult("", 1, ["kinject: field items: ResourceList.items must be a list"])
    editor = TextEditor(text)
    source = pipeline.Source("items", editor, [], [f"items[{i}]" for i in range(len(sc.objects))], sc.objects)
    writer = _LeanResults(editor, sc)
    return _process(editor, source, lambda: _lean_function_config(editor, sc), writer, text)


def _run_composed(text: str) -> FnResult:
    try:
        roots = compose_all(text)
        if len(roots) != 1:
            raise KinjectError(f"expected one ResourceList document on stdin, found {len(roots)}")
        root = roots[0]
        if isinstance(root, MappingNode) and root.flow_style:
            # JSON (or flow YAML) input: continue on its block-YAML rendering, which is what we must write.
            # (Checked first: turning it into data would silently keep only the last of duplicate keys.)
            check_nodes(root, None, text)
            text = dump_document(to_data(root))
            root = compose_all(text)[0]
        _check_resource_list(root)
    except KinjectError as exc:
        return FnResult("", 1, [f"kinject: {exc}"])
    editor = TextEditor(text)
    items_node = mapping_get(root, "items")
    objects = list(items_node.value) if isinstance(items_node, SequenceNode) else []
    labels = [f"items[{i}]" for i in range(len(objects))]
    source = pipeline.Source("items", editor, objects, labels)

    def config_with_limits() -> FunctionConfig:
        check_nodes(root, None, text)  # duplicate keys, aliases: errors the ResourceList can still carry
        config = _function_config(root)
        if config.spec.get("limits"):
            check_nodes(root, config.limits, text)
        return config

    return _process(editor, source, config_with_limits, lambda results: _with_results(editor, root, results),
                    text)


def _process(editor: TextEditor, source: pipeline.Source, read_config, write, text: str) -> FnResult:
    """Run the pipeline and answer with the ResourceList plus results; errors become results and exit 1."""
    results: list[dict] = []
    try:
        config = read_config()
        if config.spec.get("limits"):
            check_input(text, config.limits)
        report = pipeline.run([source], config)
    except Exception as exc:  # every object comes out as it was, with a result that says why
        if isinstance(exc, KinjectError):
            message, field = str(exc), exc.field
        elif isinstance(exc, RecursionError):
            message, field = "input nests too deeply to process", None
        elif os.environ.get("KINJECT_DEBUG"):
            raise
        else:  # a bug: still answer with a ResourceList that says so, and fail
            message, field = f"internal error: {type(exc).__name__}: {exc}", None
        editor.edits.clear()
        return FnResult(write([_result("error", message, field=field)]), 1, [f"kinject: {message}"])
    # (pipeline.run has already rolled back every edit when a workload failed)
    results.extend(outcome_results(report))
    messages = [f"kinject: {o.ref.describe()}: {o.message}" for o in report.errors]
    messages += [f"kinject: warning: {m}" for m, _ in report.warnings]
    return FnResult(write(results), 1 if report.errors else 0, messages, report)


def _lean_function_config(editor: TextEditor, sc: Scan) -> FunctionConfig:
    entry = sc.root.get("functionConfig")
    if entry is None:
        return FunctionConfig()
    node, _ = compose_slice(editor, entry.value_start, entry.value_end)
    if node is None or (node.tag.endswith(":null") and not getattr(node, "value", "x")):
        return FunctionConfig()  # `functionConfig:` with nothing after it
    check_nodes(node, None)
    return parse_function_config(to_data(node), "functionConfig")


class _LeanResults:
    """Writes `results` into the scanned ResourceList text: replaces an existing entry, or appends one."""

    def __init__(self, editor: TextEditor, sc: Scan) -> None:
        self.editor, self.sc = editor, sc

    def __call__(self, results: list[dict]) -> str:
        editor, sc = self.editor, self.sc
        existing = sc.root.get("results")
        first = min(sc.root.values(), key=lambda e: e.key_start)
        col = first.key_start - editor.line_start(first.key_start)
        if existing is not None:
            start = editor.text.index(":", existing.key_start) + 1
            end = existing.value_end
            if end > existing.value_start and (end >= len(editor.text) or editor.text[end - 1] != "\n"):
                end = editor.line_end(end)
            editor.add(start, end, _after_key_block(results, col))
        elif results:
            last = max(sc.root.values(), key=lambda e: e.key_start)
            editor.insert_lines(editor.line_end(last.value_end), dump_block({"results": results}, col))
        return editor


def _after_key_block(results: list[dict], col: int) -> str:
    if not results:
        return " []\n"
    return "\n" + dump_block(results, col)


def _not_a_resource_list(api_version, kind) -> str:
    return (f"stdin is not a ResourceList (apiVersion config.kubernetes.io/v1, kind ResourceList): got "
            f"apiVersion {api_version!r}, kind {kind!r}. For a plain YAML stream use `kinject inject`.")


def _check_resource_list(root) -> None:
    if not isinstance(root, MappingNode):
        raise KinjectError("stdin is not a ResourceList: expected a mapping at the top")
    kind, api_version = scalar_at(root, "kind"), scalar_at(root, "apiVersion")
    if kind != "ResourceList" or api_version not in API_VERSIONS:
        raise KinjectError(_not_a_resource_list(api_version, kind))
    items = mapping_get(root, "items")
    if items is not None and not isinstance(items, SequenceNode) and not (
        getattr(items, "value", None) in ("", None) and items.tag.endswith(":null")
    ):
        raise KinjectError("ResourceList.items must be a list", field="items")


def _function_config(root) -> FunctionConfig:
    node = mapping_get(root, "functionConfig")
    if node is None:
        return FunctionConfig()
    data = to_data(node)
    return parse_function_config(data, "functionConfig")


def outcome_results(report: pipeline.Report) -> list[dict]:
    out = []
    for message, ref in report.warnings:
        out.append(_result("warning", message))
    for o in report.outcomes:
        severity = "error" if o.status == "error" else "info"
        out.append(_result(severity, o.message, ref=o.ref, file=o.file, field=o.field_path))
        for w in o.warnings:
            out.append(_result("warning", w, ref=o.ref, file=o.file))
    return out


def _result(severity: str, message: str, *, ref=None, file=None, field=None) -> dict:
    result: dict = {"message": message, "severity": severity}
    if ref is not None:
        resource = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
        if ref.namespace:
            resource["namespace"] = ref.namespace
        result["resourceRef"] = resource
        if field:
            result["field"] = {"path": field}
    if file:
        result["file"] = dict(file)
    return result


def _with_results(editor: TextEditor, root: MappingNode, results: list[dict]) -> str:
    existing = mapping_get(root, "results")
    if results or existing is not None:
        key_node = next(k for k, v in root.value if v is existing) if existing is not None else None
        col = root.value[0][0].start_mark.column
        if key_node is not None:
            editor.edit_value(key_node, existing, object(), results, col)
        else:
            last = root.value[-1][1]
            editor.insert_lines(editor.line_end(editor.content_end(last)), dump_block({"results": results}, col))
    return editor.apply()
