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
from .yamltext import TextEditor, compose_all, dump_block, dump_document, mapping_get, scalar_at, to_data

API_VERSIONS = ("config.kubernetes.io/v1", "config.kubernetes.io/v1beta1")


@dataclass
class FnResult:
    stdout: str
    exit_code: int
    messages: list[str] = field(default_factory=list)  # for stderr, one line each
    report: pipeline.Report | None = None


def process(text: str) -> tuple[str, int]:
    """ResourceList text in → (ResourceList text out, exit code)."""
    result = run(text)
    return result.stdout, result.exit_code


def run(text: str) -> FnResult:
    try:
        check_input(text, None)
        roots = compose_all(text)
        if len(roots) != 1:
            raise KinjectError(f"expected one ResourceList document on stdin, found {len(roots)}")
        root = roots[0]
        if isinstance(root, MappingNode) and root.flow_style:
            # JSON (or flow YAML) input: continue on its block-YAML rendering, which is what we must write.
            text = dump_document(to_data(root))
            root = compose_all(text)[0]
        check_nodes(root, None, text)
        _check_resource_list(root)
    except KinjectError as exc:
        return FnResult("", 1, [f"kinject: {exc}"])
    editor = TextEditor(text)
    items_node = mapping_get(root, "items")
    objects = list(items_node.value) if isinstance(items_node, SequenceNode) else []
    labels = [f"items[{i}]" for i in range(len(objects))]
    source = pipeline.Source("items", editor, objects, labels)
    results: list[dict] = []
    report: pipeline.Report | None = None
    try:
        config = _function_config(root)
        if config.spec.get("limits"):
            check_input(text, config.limits)
            check_nodes(root, config.limits, text)
        report = pipeline.run([source], config)
    except KinjectError as exc:
        results.append(_result("error", str(exc), field=exc.field))
        messages = [f"kinject: {exc}"]
        editor.edits.clear()
        return FnResult(_with_results(editor, root, results), 1, messages)
    except RecursionError:
        message = "input nests too deeply to process"
        editor.edits.clear()
        return FnResult(_with_results(editor, root, [_result("error", message)]), 1, [f"kinject: {message}"])
    except Exception as exc:  # a bug: still answer with a ResourceList that says so, and fail
        if os.environ.get("KINJECT_DEBUG"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"
        editor.edits.clear()
        return FnResult(_with_results(editor, root, [_result("error", message)]), 1, [f"kinject: {message}"])
    results.extend(outcome_results(report))
    messages = [f"kinject: {o.ref.describe()}: {o.message}" for o in report.errors]
    messages += [f"kinject: warning: {m}" for m, _ in report.warnings]
    code = 1 if report.errors else 0
    if code:
        editor.edits.clear()
    return FnResult(_with_results(editor, root, results), code, messages, report)


def _check_resource_list(root) -> None:
    if not isinstance(root, MappingNode):
        raise KinjectError("stdin is not a ResourceList: expected a mapping at the top")
    kind, api_version = scalar_at(root, "kind"), scalar_at(root, "apiVersion")
    if kind != "ResourceList" or api_version not in API_VERSIONS:
        raise KinjectError(
            f"stdin is not a ResourceList (apiVersion config.kubernetes.io/v1, kind ResourceList): got "
            f"apiVersion {api_version!r}, kind {kind!r}. For a plain YAML stream use `kinject inject`."
        )
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
