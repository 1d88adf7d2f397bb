"""Kubernetes strategic merge patch (SMP), limited to what a Pod needs (reference §2.13).

Semantics follow apimachinery's `strategicpatch` for the Pod schema:
* maps merge recursively; a `None` patch value deletes the key;
* lists with a merge key (containers, env, volumes, ...) merge element by element; every other list is replaced;
* directives: `$patch: replace` / `$patch: delete` on maps and list elements; other `$` keys are dropped;
* element order: patch elements in patch order, interleaved with the original's untouched elements
  (`mergeSortedSlice`: an untouched element goes first only if it comes earlier in the original than the
  next patch element, and that patch element was already in the original).

`strategic_merge(original, patch)` merges INTO `original` (callers pass a working copy) and never mutates or
aliases `patch`: values taken from the patch are copied, with `None` leaves dropped the way a round trip
through Go structs drops nil pointers. A caller that owns a fresh, plain patch (no None, no `$` keys; see
`is_plain`) may pass `owned=True` to insert its values without copying: the hot path of injection.
"""

from __future__ import annotations

from typing import Any, Callable

Schema = dict[str, tuple[str, "Schema | None"]]  # field -> (merge key, schema of the element)

CONTAINER_SCHEMA: Schema = {
    "env": ("name", None),
    "volumeMounts": ("mountPath", None),
    "ports": ("containerPort", None),
    "volumeDevices": ("devicePath", None),
    "resizePolicy": ("resourceName", None),
}
POD_SPEC_SCHEMA: Schema = {
    "containers": ("name", CONTAINER_SCHEMA),
    "initContainers": ("name", CONTAINER_SCHEMA),
    "ephemeralContainers": ("name", CONTAINER_SCHEMA),
    "volumes": ("name", None),
    "imagePullSecrets": ("name", None),
    "hostAliases": ("ip", None),
    "resourceClaims": ("name", None),
    "schedulingGates": ("name", None),
}
# Nested schemas are reached through map fields: pod -> spec -> containers -> env.
_SCHEMA_OF_MAP_FIELD: dict[str, Schema] = {"spec": POD_SPEC_SCHEMA}

DIRECTIVE = "$patch"


def copy_data(value: Any) -> Any:
    """Copy plain YAML data (dict/list/scalars) dropping None map values: the Go round-trip view."""
    if isinstance(value, dict):
        return {k: copy_data(v) for k, v in value.items() if v is not None and not _is_directive_key(k)}
    if isinstance(value, list):
        return [copy_data(v) for v in value]
    return value


def clone(value: Any) -> Any:
    """A fast structural copy of plain data (much cheaper than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def is_plain(value: Any) -> bool:
    """True if the data has no None values and no `$` directive keys (it can be inserted as is)."""
    if isinstance(value, dict):
        return all(v is not None and not _is_directive_key(k) and is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_plain(v) for v in value)
    return True


def _as_is(value: Any) -> Any:
    return value


def _is_directive_key(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("$")


def merge_pod(original: dict, patch: dict, *, owned: bool = False) -> dict:
    """Merge a partial Pod (`metadata`/`spec`) into `original` (a Pod-shaped working copy).

    `owned=True`: the caller hands over a fresh plain patch (`is_plain`), whose values are inserted uncopied."""
    return _merge_map(original, patch, {}, top_level=True, take=_as_is if owned else copy_data)


def strategic_merge(original: dict, patch: dict, schema: Schema | None = None) -> dict:
    return _merge_map(original, patch, schema or {})


def _merge_map(original: dict, patch: dict, schema: Schema, top_level: bool = False,
               take: Callable[[Any], Any] = copy_data) -> dict:
    if patch.get(DIRECTIVE) == "replace":
        original.clear()
        original.update(copy_data(patch))
        return original
    for key, value in patch.items():
        if _is_directive_key(key):
            continue
        if value is None:
            original.pop(key, None)
            continue
        if isinstance(value, dict) and value.get(DIRECTIVE) == "delete":
            original.pop(key, None)
            continue
        child_schema = _SCHEMA_OF_MAP_FIELD.get(key, {}) if top_level else {}
        current = original.get(key)
        if isinstance(value, dict):
            if isinstance(current, dict):
                _merge_map(current, value, child_schema, take=take)
            else:
                original[key] = take(value)
        elif isinstance(value, list) and key in schema:
            merge_key, element_schema = schema[key]
            original[key] = _merge_list(current if isinstance(current, list) else [], value, merge_key,
                                        element_schema or {}, take)
        else:
            original[key] = take(value)
    return original


def _merge_list(original: list, patch: list, merge_key: str, element_schema: Schema,
                take: Callable[[Any], Any]) -> list:
    patch_items = [item for item in patch if isinstance(item, dict)]
    if any(DIRECTIVE in item for item in patch_items):
        # `{$patch: replace}` anywhere in the patch list: the result is the rest of the patch list.
        if any(item[DIRECTIVE] == "replace" and merge_key not in item for item in patch_items if DIRECTIVE in item):
            return [copy_data(item) for item in patch_items if DIRECTIVE not in item]
        deletions = {item.get(merge_key) for item in patch_items
                     if item.get(DIRECTIVE) == "delete" and merge_key in item}
        patch_items = [item for item in patch_items if item.get(DIRECTIVE) != "delete"]
        original = [item for item in original if not (isinstance(item, dict) and item.get(merge_key) in deletions)]

    index_in_original = {}
    for i, item in enumerate(original):
        if isinstance(item, dict) and merge_key in item:
            index_in_original.setdefault(item[merge_key], i)

    merged_by_key: dict[Any, dict] = {}
    patch_keys: list[Any] = []
    for item in patch_items:
        key = item.get(merge_key)
        if key in merged_by_key:  # a key repeated in the patch merges into the first occurrence
            _merge_map(merged_by_key[key], item, element_schema, take=take)
            continue
        if key in index_in_original:
            target = original[index_in_original[key]]
            merged_by_key[key] = _merge_map(target, item, element_schema, take=take)
        else:
            merged_by_key[key] = take(item)
        patch_keys.append(key)

    server_only = [(i, item) for i, item in enumerate(original)
                   if not (isinstance(item, dict) and item.get(merge_key) in merged_by_key)]
    if not server_only:
        return [merged_by_key[key] for key in patch_keys]
    if not patch_keys:
        return [item for _, item in server_only]
    # mergeSortedSlice: interleave server-only items (original order) with patch items (patch order). A
    # server-only item goes first only if the next patch item was in the original too, further down.
    patch_positions = [index_in_original.get(key) for key in patch_keys]
    result: list = []
    i = j = 0
    while i < len(server_only) and j < len(patch_keys):
        right_index = patch_positions[j]
        if right_index is not None and server_only[i][0] < right_index:
            result.append(server_only[i][1])
            i += 1
        else:
            result.append(merged_by_key[patch_keys[j]])
            j += 1
    result.extend(item for _, item in server_only[i:])
    result.extend(merged_by_key[key] for key in patch_keys[j:])
    return result
