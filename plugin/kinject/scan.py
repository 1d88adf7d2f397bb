"""One pass of libyaml's event parser over a whole input: where each object is, and what it is.

Why: composing a whole bundle into nodes costs ~25 bytes of memory per byte of YAML (PyYAML node objects), so
a 2.5 MB bundle took 60 MB before any work began. The event scan keeps nothing but, per object, its text span
and the few scalars that tell what it is (kind, apiVersion, metadata.name and namespace). The pipeline then
composes only the objects it needs (workloads, Namespaces, the injector ConfigMaps), one at a time, and lets
them go. Documents with anchors or aliases are left to the full composer (`None`), since an alias may point
into another object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from .errors import InputError
from .yamltext import Loader, _yaml_message

_SCALAR, _MAP_START, _MAP_END = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.MappingEndEvent
_SEQ_START, _SEQ_END, _ALIAS = yaml.SequenceStartEvent, yaml.SequenceEndEvent, yaml.AliasEvent
_DOC_START, _DOC_END = yaml.DocumentStartEvent, yaml.DocumentEndEvent


@dataclass
class ObjectSpan:
    start: int  # index of the object's first token
    end: int  # index just past the object's last token
    is_mapping: bool
    flow: bool
    kind: str | None = None
    api_version: str | None = None
    name: str | None = None
    namespace: str | None = None


@dataclass
class RootEntry:
    key_start: int
    value_start: int
    value_end: int  # end of the value's last token (its content end)


@dataclass
class Scan:
    objects: list[ObjectSpan] = field(default_factory=list)
    root: dict[str, RootEntry] = field(default_factory=dict)  # ResourceList mode: the root mapping's entries
    root_flow: bool = False
    root_is_mapping: bool = True
    root_kind: str | None = None
    root_api_version: str | None = None
    documents: int = 0


def scan(text: str, resource_list: bool) -> Scan | None:
    """Object spans of a ResourceList's `items` (resource_list=True) or of a stream's documents.
    None when the text uses anchors or aliases (compose it whole instead)."""
    try:
        return _scan(text, resource_list)
    except yaml.MarkedYAMLError as exc:
        raise InputError(_yaml_message(exc)) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}") from None


def _scan(text: str, resource_list: bool) -> Scan | None:  # noqa: C901 - one flat state machine reads best
    result = Scan()
    # Frames: [is_mapping, expecting_key, key, role, key_start, flow, {key: line} seen so far]
    # role: "root" (ResourceList root), "items", "object", "meta" (an object's metadata) or None.
    stack: list[list] = []
    current: ObjectSpan | None = None
    current_depth = -1
    last_end = 0  # end of the last token that ends content (scalars, closing brackets)
    for event in yaml.parse(text, Loader=Loader):
        cls = type(event)
        if cls is _ALIAS or getattr(event, "anchor", None):
            return None
        if cls is _DOC_START:
            result.documents += 1
            continue
        if cls is _DOC_END or cls is yaml.StreamStartEvent or cls is yaml.StreamEndEvent:
            continue
        if cls is _MAP_END or cls is _SEQ_END:
            frame = stack.pop()
            if frame[5]:
                last_end = event.end_mark.index  # block collections "end" at the next token: not content
            if current is not None and len(stack) == current_depth:
                current.end = last_end
                current = None
            if stack:
                _value_done(stack[-1], result, last_end)
            continue
        parent = stack[-1] if stack else None
        is_key = parent is not None and parent[0] and parent[1]
        role = None
        if is_key:
            parent[1] = False
            parent[2] = event.value if cls is _SCALAR else None
            parent[4] = event.start_mark.index
            if cls is _SCALAR and event.value != "<<":
                seen = parent[6]
                if event.value in seen:
                    raise InputError(
                        f"duplicate key {event.value!r} at line {event.start_mark.line + 1}, column "
                        f"{event.start_mark.column + 1} (first at line {seen[event.value]}); kubectl and "
                        "kustomize refuse duplicate keys"
                    )
                seen[event.value] = event.start_mark.line + 1
        elif parent is None:
            role = "root" if resource_list else "object"
        elif parent[3] == "items":
            role = "object"
        elif parent[3] == "root":
            role = "items" if parent[2] == "items" else None
            result.root[parent[2] if parent[2] is not None else ""] = RootEntry(
                parent[4], event.start_mark.index, event.end_mark.index)
        elif parent[3] == "object" and parent[2] == "metadata":
            role = "meta"
        if role == "object" and cls is _SCALAR and not resource_list and event.value == "" and \
                event.implicit[0] and event.start_mark.index == event.end_mark.index:
            continue  # an explicit empty document: skipped, as kubectl and kustomize do
        if role == "object":
            current = ObjectSpan(event.start_mark.index, event.end_mark.index, cls is _MAP_START,
                                 bool(getattr(event, "flow_style", False)))
            current_depth = len(stack)
            result.objects.append(current)
        elif role == "root":
            result.root_is_mapping = cls is _MAP_START
            result.root_flow = bool(getattr(event, "flow_style", False))
        if cls is _SCALAR:
            last_end = event.end_mark.index
            if parent is not None and not is_key and parent[3] in ("object", "meta", "root") and _is_str(event):
                key = parent[2]
                if parent[3] == "object" and current is not None:
                    if key == "kind":
                        current.kind = event.value
                    elif key == "apiVersion":
                        current.api_version = event.value
                elif parent[3] == "meta" and current is not None:
                    if key == "name":
                        current.name = event.value
                    elif key == "generateName" and not current.name:
                        current.name = event.value
                    elif key == "namespace":
                        current.namespace = event.value
                elif parent[3] == "root":
                    if key == "kind":
                        result.root_kind = event.value
                    elif key == "apiVersion":
                        result.root_api_version = event.value
            if current is not None and len(stack) == current_depth:
                current.end = last_end  # a scalar object (an error later, but spanned)
                current = None
            if parent is not None and not is_key:
                _value_done(parent, result, last_end)
            continue
        stack.append([cls is _MAP_START, True, None, role, 0, bool(getattr(event, "flow_style", False)), {}])
    return result


def _value_done(frame: list, result: Scan, end: int) -> None:
    """A value of `frame` (a scalar or a whole collection) has ended at `end`."""
    if frame[0]:
        if frame[3] == "root":
            entry = result.root.get(frame[2] if frame[2] is not None else "")
            if entry is not None:
                entry.value_end = end
        frame[1] = True


_resolver = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"


def _is_str(event: yaml.ScalarEvent) -> bool:
    """Whether the scalar is a string (kind: 1 is not a kind), as the composer would tag it."""
    if event.tag is not None and event.tag != "!":
        return event.tag == _STR
    if not event.implicit[0]:  # quoted
        return True
    return _resolver.resolve(yaml.ScalarNode, event.value, event.implicit) == _STR
