"""The injection pipeline over composed YAML: objects → decisions → injected pod templates → text edits.

It knows nothing about stdin or ResourceLists: `krm.py` (KRM functions) and `stream.py` (plain YAML streams,
post-renderers, files) hand it the objects of one or more texts and turn its report into their output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from yaml.nodes import MappingNode, Node

from . import undo, workloads
from .config import ClusterConfig, FunctionConfig, Profiles, build_profiles, is_cluster_configmap
from .errors import ConfigError, InjectionError, InputError, KinjectError
from .model import PodTemplate, Workload
from .policy import Decision, NamespaceInfo, decide
from .scan import ObjectSpan
from .yamltext import TextEditor, _CannotEdit, compose_slice, node_at, same, scalar_at, to_data

PATH_ANNOTATIONS = ("internal.config.kubernetes.io/path", "config.kubernetes.io/path")
INDEX_ANNOTATIONS = ("internal.config.kubernetes.io/index", "config.kubernetes.io/index")


@dataclass
class Source:
    """One text (a ResourceList's items, or a YAML stream / file) and the top-level objects in it."""

    name: str  # file name, "stdin" or "items"
    editor: TextEditor
    objects: list[Node]  # top-level object nodes, in order (empty when `spans` is used)
    labels: list[str]  # how to name each object in messages ("items[3]", "file.yaml document 2")
    # Lean mode (large inputs): the objects' text spans from one event scan; each object is composed only
    # when needed and released after use, instead of holding the whole node tree.
    spans: list[ObjectSpan] | None = None


@dataclass
class Outcome:
    """What happened to one workload (or to one object that could not be read)."""

    ref: workloads.ObjectRef
    status: str  # "injected", "unchanged" (already current), "skipped", "error"
    message: str
    decision: Decision | None = None
    file: dict[str, Any] | None = None
    field_path: str | None = None
    warnings: list[str] = field(default_factory=list)
    source: str = ""
    before: dict | None = None  # the pod template before injection (for diff/check/explain)
    after: dict | None = None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    warnings: list[tuple[str, workloads.ObjectRef | None]] = field(default_factory=list)
    profiles: Profiles | None = None  # the revisions' profiles the run decided with (None: no workload)

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "error"]


@dataclass
class _Workload:
    node: MappingNode | None  # the object (None until composed, in lean mode)
    template: MappingNode | None
    ref: workloads.ObjectRef
    source: Source
    label: str
    file: dict[str, Any] | None
    editor: TextEditor | None = None  # where the edits of this object go (a slice editor in lean mode)
    span: ObjectSpan | None = None

    def compose(self) -> None:
        """Lean mode: compose this object now (it is released again after injection)."""
        if self.span is not None and self.node is None:
            node, self.editor = compose_slice(self.source.editor, self.span.start, self.span.end)
            self.node = node
            self.template = workloads.pod_template_node(node, self.ref.kind)
            self.file = _file_of(node)

    def release(self) -> None:
        if self.span is not None:
            self.node = self.template = None
            self.editor = None


def run(
    sources: list[Source],
    config: FunctionConfig,
    *,
    fallback_namespace: str | None = None,
    extra_namespaces: dict[str, NamespaceInfo] | None = None,
    cluster_overrides: ClusterConfig | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Inject every workload of `sources` that the policy selects; record edits in each source's editor
    unless `dry_run`. Never raises for a single bad object: errors become outcomes. Raises KinjectError
    only for problems that concern the whole run (invalid config, invalid cluster ConfigMaps)."""
    report = Report()
    default_ns = fallback_namespace or config.default_namespace
    namespaces: dict[str, NamespaceInfo] = {}
    cluster = ClusterConfig()
    found: list[_Workload] = []
    for obj, source, label, span, ref, editor in _objects(sources):
        kind, api_version = ref.kind, ref.api_version
        if span is not None and workloads.is_workload(api_version, kind):
            found.append(_Workload(None, None, ref, source, label, None, None, span))
            continue
        if obj is None:
            if not (kind in ("Namespace", "ConfigMap") or workloads.is_list(api_version, kind)):
                continue  # neither needed nor touched: never composed
            obj, editor = compose_slice(source.editor, span.start, span.end)
        if kind == "Namespace" and api_version == "v1":
            meta = to_data(node_at(obj, "metadata")) if node_at(obj, "metadata") is not None else {}
            meta = meta if isinstance(meta, dict) else {}
            namespaces[ref.name] = NamespaceInfo(
                ref.name, _str_map(meta.get("labels")), _str_map(meta.get("annotations")), "bundle"
            )
        elif kind == "ConfigMap" and api_version == "v1" and is_cluster_configmap(ref.name):
            data = to_data(node_at(obj, "data")) if node_at(obj, "data") is not None else {}
            cluster.add_configmap(ref.name, data if isinstance(data, dict) else {}, f"ConfigMap {ref.name}")
        elif workloads.is_workload(api_version, kind):
            found.append(_Workload(obj, workloads.pod_template_node(obj, kind), ref, source, label, _file_of(obj),
                                   editor))
        elif workloads.is_list(api_version, kind):
            for i, member in enumerate(workloads.list_members(obj)):
                if not isinstance(member, MappingNode):
                    continue
                mref = workloads.object_ref(member)
                if workloads.is_workload(mref.api_version, mref.kind):
                    tmpl = workloads.pod_template_node(member, mref.kind)
                    found.append(_Workload(member, tmpl, mref, source, f"{label} items[{i}]", _file_of(obj),
                                           editor))
    if cluster_overrides is not None:  # --injector-config / --values / --mesh-config win over the bundle
        cluster.values.update(cluster_overrides.values)
        cluster.injector.update(cluster_overrides.injector)
        cluster.mesh.update(cluster_overrides.mesh)
        cluster.warnings += cluster_overrides.warnings
    for message in cluster.warnings:
        report.warnings.append((message, None))
    for name, info in (extra_namespaces or {}).items():
        namespaces.setdefault(name, info)
    for name, info in config.namespace_infos().items():
        namespaces.setdefault(name, info)
    if not found:
        return report
    profiles = report.profiles = build_profiles(config, cluster)
    policies = profiles.policies()
    # Edits are recorded as each workload is done (its nodes and data are then released); all or nothing:
    # when any workload fails, every recorded edit is rolled back and every object comes out as it was.
    marks = [(source, len(source.editor.edits)) for source in sources]
    failed = False
    for i, w in enumerate(found):
        if progress is not None:
            progress(i, len(found))
        w.compose()
        outcome, new_template, old_template = _inject_one(w, profiles, policies, namespaces, default_ns)
        failed = failed or outcome.status == "error"
        if not dry_run:
            outcome.before = outcome.after = None  # only the dry-run commands read them; they cost memory
            if new_template is not None and not failed:
                _record_edit(w, old_template, new_template)
        report.outcomes.append(outcome)
        w.release()
    if progress is not None:
        progress(len(found), len(found))
    if report.errors:
        for source, mark in marks:
            del source.editor.edits[mark:]
    return report


def _inject_one(
    w: _Workload,
    profiles: Profiles,
    policies: dict,
    namespaces: dict[str, NamespaceInfo],
    default_ns: str,
) -> tuple[Outcome, dict | None, dict | None]:
    namespace = w.ref.namespace or default_ns
    ref = workloads.ObjectRef(w.ref.api_version, w.ref.kind, w.ref.name, w.ref.namespace or namespace)
    base = dict(ref=ref, file=w.file, source=w.source.name)
    if w.template is None:
        path = ".".join(workloads.POD_TEMPLATE_PATHS[w.ref.kind])
        return Outcome(status="error", message=f"{path} is required", field_path=path, **base), None, None
    template = to_data(w.template)
    base["before"] = template  # every outcome carries the template it was decided on (dry runs keep it)
    if not isinstance(template, dict):
        return Outcome(status="error", message="pod template is not an object", **base), None, None
    for where, mapping in (("", template), ("metadata", template.get("metadata")), ("spec", template.get("spec"))):
        bad = next((k for k in mapping if not isinstance(k, str)), None) if isinstance(mapping, dict) else None
        if bad is not None or (isinstance(mapping, dict) and None in mapping):
            path = ".".join(p for p in (".".join(workloads.POD_TEMPLATE_PATHS[w.ref.kind]), where) if p)
            return Outcome(status="error", message=f"{path or 'the object'}: key {bad!r} is not a string "
                           "(Kubernetes field names are strings)", field_path=path, **base), None, None
    # A template kinject injected before carries an undo record: decide and inject from the exact original,
    # so that re-injection with new settings replaces the old sidecar instead of merging into it.
    source = undo.restore(template) or template
    meta = source.get("metadata") or {}
    spec = source.get("spec") or {}
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return Outcome(status="error", message="pod template metadata/spec must be objects", **base), None, None
    ns = namespaces.get(namespace) or NamespaceInfo(namespace, {}, {}, "unknown")
    decision = decide(
        pod_labels=_str_map(meta.get("labels")),
        pod_annotations=_str_map(meta.get("annotations")),
        host_network=spec.get("hostNetwork") is True,
        namespace=ns,
        revisions=policies,
        tags=profiles.tags,
    )
    if not decision.inject:
        return Outcome(status="skipped", message=f"skipped: {decision.reason}", decision=decision, **base), None, None
    from .inject import inject_pod  # the engine: Jinja2 and friends load only when something is injected

    profile = profiles.profiles[decision.revision]
    workload = Workload(ref.api_version, ref.kind, w.ref.name, namespace)
    try:
        result = inject_pod(PodTemplate(meta, spec), workload, profile, dict(ns.annotations))
    except InjectionError as exc:
        message = exc.message
        return Outcome(status="error", message=message, decision=decision, field_path=exc.field, **base), None, None
    # (for a bare Pod the object is its own template: every other top-level key is kept as well)
    new_template = {**source, "metadata": result.metadata, "spec": result.spec}
    new_template = undo.embed(new_template, undo.record(source, new_template))

    status = "unchanged" if same(template, new_template) else "injected"
    message = "injected" if status == "injected" else "injected (already current)"
    if decision.revision and decision.revision != "default":
        message += f" (revision {decision.revision})"
    outcome = Outcome(status=status, message=message, decision=decision, warnings=list(result.warnings),
                      after=new_template, **base)
    return outcome, (new_template if status == "injected" else None), template


def _record_edit(w: _Workload, old: dict, new: dict) -> None:
    assert w.template is not None
    # keep_other_keys: a bare Pod is its own template, its other top-level keys stay
    edit_at_path(w.editor or w.source.editor, w.node, w.template, old, new,
                 workloads.POD_TEMPLATE_PATHS[w.ref.kind], keep_other_keys=True)


def edit_at_path(editor: TextEditor, node: Node, target: Node, old: dict, new: dict, path: tuple[str, ...], *,
                 keep_other_keys: bool) -> None:
    """Record the edit of `target` (the node at `path` in the object `node`) from `old` to `new`: in place
    when the text allows it, else by rewriting the whole object from data, with `new` at `path`. When `path`
    is empty (the object is the target), the rewritten object is `new`, or with `keep_other_keys` the object's
    data updated with `new`."""
    before = len(editor.edits)
    try:
        editor.edit_node(target, old, new)
    except _CannotEdit:
        del editor.edits[before:]
        if not path:
            editor.replace_document_node(node, {**to_data(node), **new} if keep_other_keys else new)
        else:  # rewrite the object as a whole, with the new value in place
            whole = to_data(node)
            parent = whole
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = new
            editor.replace_document_node(node, whole)


def _objects(sources: list[Source]) -> Iterator[tuple[MappingNode | None, Source, str, ObjectSpan | None,
                                                       workloads.ObjectRef, TextEditor]]:
    """(node or None, source, label, span or None, ref, editor) of every top-level object, checked."""
    for source in sources:
        if source.spans is not None:
            for span, label in zip(source.spans, source.labels):
                if not span.is_mapping:
                    raise InputError(f"{label}: expected an object (a mapping), got something else", field=label)
                if span.kind is None or span.api_version is None:
                    missing = "kind" if span.kind is None else "apiVersion"
                    raise InputError(f"{label}: the object has no {missing}", field=f"{label}.{missing}")
                ref = workloads.ObjectRef(span.api_version, span.kind, span.name or "", span.namespace)
                yield None, source, label, span, ref, source.editor
            continue
        for obj, label in zip(source.objects, source.labels):
            if not isinstance(obj, MappingNode):
                raise InputError(f"{label}: expected an object (a mapping), got {_node_kind(obj)}", field=label)
            if scalar_at(obj, "kind") is None or scalar_at(obj, "apiVersion") is None:
                missing = "kind" if scalar_at(obj, "kind") is None else "apiVersion"
                raise InputError(f"{label}: the object has no {missing}", field=f"{label}.{missing}")
            yield obj, source, label, None, workloads.object_ref(obj), source.editor


def _node_kind(node: Node) -> str:
    return {"SequenceNode": "a list", "ScalarNode": "a scalar"}.get(type(node).__name__, "something else")


def _file_of(node: Node) -> dict[str, Any] | None:
    annotations = node_at(node, "metadata", "annotations")
    if annotations is None:
        return None
    path = next((p for p in (scalar_at(annotations, a) for a in PATH_ANNOTATIONS) if p), None)
    if path is None:
        return None
    index = next((i for i in (scalar_at(annotations, a) for a in INDEX_ANNOTATIONS) if i), "0")
    return {"path": path, "index": int(index) if index.isdigit() else 0}


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else ("" if v is None else str(v)) for k, v in value.items()}


__all__ = ["Source", "Outcome", "Report", "run", "KinjectError", "ConfigError"]
