"""Rendering templates to partial Pods through two caches, so that most runs never import Jinja2.

Rendering + YAML parsing costs ~1-2 ms, and importing Jinja2 (templating.py) ~60 ms and ~8 MB of resident
memory, while a bundle usually needs a handful of distinct renders. So renders are cached twice:

- In memory, for the run. Built-in templates: the key is (template, profile key, TemplateData.key, container
  names if the template reads them); TemplateData.key covers everything the shared data is computed from
  (template_data.py). The per-workload identity strings are rendered as unique placeholders; the entry is the
  parsed result (marshal bytes: a fresh copy is a cheap `marshal.loads`) plus, for every string that holds
  placeholders, its path and its text cut into literal parts and identity fields, filled per workload. User
  templates get real identity values and the whole pod, and their key is the JSON of all their data.
- On disk, across runs, for built-in templates only: the same entry as JSON data (never code) in kinject's
  private per-user cache directory (cachedir.py), keyed by the in-memory key plus a fingerprint of kinject's
  code and Jinja2's installation, and read back only after checking that it is a partial Pod of plain values.
  User templates are never cached on disk: their output must come from the sandbox, in this process.

tests/test_engine_render.py and tests/test_render_cache.py check the cached paths against uncached renders.
"""

from __future__ import annotations

import json
import marshal
import os
import re
import sys
from functools import lru_cache
from typing import Any, Iterable

import yaml

from .cachedir import entry_path, private_cache_dir, read_entry, write_atomic
from .digest import sha256_hex
from .errors import TemplateError
from .merge import is_plain
from .profile import Profile
from .template_data import UNUSED_BY_TEMPLATE, TemplateData
from .yamltext import Loader

MAX_NODES = 200_000
CACHE_SIZE = 4096
DISK_CACHE_SIZE = 2048  # entry files; past this the directory's render entries are dropped and rebuilt
_DISK_FORMAT = 1

_NONCE = os.urandom(8).hex()
_PLACEHOLDER = re.compile(r"@@kinject-" + _NONCE + r":([a-z_]+)@@")


def placeholder(field: str) -> str:
    return f"@@kinject-{_NONCE}:{field}@@"


def render_text(name: str, source: str, context: dict, sandboxed: bool) -> str:
    from .templating import render_text as render

    return render(name, source, context, sandboxed)


def parse_patch(name: str, text: str) -> dict:
    """Parse a rendered template into a partial Pod `{metadata, spec}`."""
    try:
        parsed = yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        raise TemplateError(f"template {name!r} did not render valid YAML: {exc}") from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise TemplateError(f"template {name!r} must render a mapping with metadata/spec")
    unknown = sorted(str(k) for k in parsed if k not in ("metadata", "spec"))
    if unknown:
        raise TemplateError(f"template {name!r} rendered unsupported top-level keys: {', '.join(unknown)}")
    for key in ("metadata", "spec"):
        if parsed.get(key) is not None and not isinstance(parsed[key], dict):
            raise TemplateError(f"template {name!r}: {key} must be a mapping")
    _check_tree(name, parsed)
    return parsed


_LEAF_TYPES = (str, int, float, bool, type(None))


def _check_tree(name: str, root: Any) -> None:
    """Reject YAML aliases (shared nodes could explode on copy), values a Pod cannot hold (timestamps,
    binary, non-string keys) and oversized results."""
    seen: set[int] = set()
    stack = [root]
    count = 0
    while stack:
        node = stack.pop()
        if isinstance(node, (dict, list)):
            if id(node) in seen:
                raise TemplateError(f"template {name!r}: YAML anchors/aliases are not allowed")
            seen.add(id(node))
            if isinstance(node, dict):
                bad_key = next((k for k in node if not isinstance(k, str)), None)
                if bad_key is not None:
                    raise TemplateError(f"template {name!r}: mapping key {bad_key!r} is not a string")
                stack.extend(node.values())
            else:
                stack.extend(node)
        elif not isinstance(node, _LEAF_TYPES):
            raise TemplateError(f"template {name!r} rendered a {type(node).__name__} value ({node!r}); "
                                "quote it to make it a string")
        count += 1
        if count > MAX_NODES:
            raise TemplateError(f"template {name!r} rendered too large a structure")


def check_templates(profile: Profile, names: Iterable[str] | None = None) -> None:
    """Compile a profile's templates now (all, or `names`): a TemplateError naming the template on a syntax
    error, so a broken user template is reported once at configuration time rather than for each workload."""
    from .templating import compile_template

    for name in profile.templates if names is None else names:
        compile_template(name, profile.templates[name], name in profile.user_templates)


# ---------------------------------------------------------------------------------------------- render cache

Fill = tuple[tuple, tuple]  # (path to a string, its parts: literal, field, literal, field, ..., literal)


def _fills(node: Any, path: tuple = ()) -> list[Fill]:
    """Where identity placeholders are in a parsed render, and each such string cut into parts."""
    found: list[Fill] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and _PLACEHOLDER.search(key):
                raise TemplateError("identity values cannot be used as mapping keys in built-in templates")
            found.extend(_fills(value, path + (key,)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_fills(value, path + (index,)))
    elif isinstance(node, str) and _PLACEHOLDER.search(node):
        found.append((path, tuple(_PLACEHOLDER.split(node))))
    return found


def _fill(tree: dict, fills: list[Fill], identity: dict[str, str]) -> None:
    for path, parts in fills:
        parent = tree
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = "".join(identity[p] if i % 2 else p for i, p in enumerate(parts))


class RenderCache:
    """Parsed renders keyed by (template, profile key, shared data); bounded, process-wide; built-in
    renders also kept on disk (see the module docstring)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.disk = _DiskCache()
        self._entries: dict[tuple, tuple[bytes, list[Fill], bool]] = {}
        self.hits = 0
        self.misses = 0

    def render_owned(self, name: str, profile: Profile, data: TemplateData, *,
                     use_cache: bool = True) -> tuple[dict, bool]:
        """(fresh partial Pod, plain): `plain` means no None values and no `$patch` directives, so the caller
        may merge it without copying (merge_pod(..., owned=True))."""
        if name not in profile.templates:
            raise TemplateError(f"requested template {name!r} not found; have "
                                f"{', '.join(sorted(profile.templates))}")
        sandboxed = name in profile.user_templates
        if sandboxed:
            shared: dict = {**data.shared, "id": data.identity, "pod": data.pod}
            identity: dict[str, str] = {}
        else:
            unused = UNUSED_BY_TEMPLATE.get(name)
            shared = {k: v for k, v in data.shared.items() if k not in unused} if unused else data.shared
            identity = data.identity
        if not use_cache:
            parsed = _render(name, profile, shared, None if sandboxed else identity, sandboxed)
            return parsed, is_plain(parsed)

        if sandboxed:
            key = (name, profile.key, _json_key(shared))
        else:
            # The built-in data is a function of data.key, the profile and container_names (template_data.py).
            key = (name, profile.key, data.key, tuple(shared.get("container_names") or ()))
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            entry = None if sandboxed else self.disk.load(name, key, identity)
            if entry is None:
                ids = None if sandboxed else {field: placeholder(field) for field in identity}
                parsed = _render(name, profile, shared, ids, sandboxed)
                entry = (marshal.dumps(parsed), _fills(parsed) if not sandboxed else [], is_plain(parsed))
                if not sandboxed:
                    self.disk.store(key, parsed, entry)
            self._store(key, entry)
        else:
            self.hits += 1
        result = marshal.loads(entry[0])
        _fill(result, entry[1], identity)
        return result, entry[2]

    def _store(self, key: tuple, entry: tuple) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()  # simple and bounded; real bundles have few distinct renders
        self._entries[key] = entry


def _render(name: str, profile: Profile, shared: dict, ids: dict | None, sandboxed: bool) -> dict:
    """One real render, parsed: built-in templates read the identity strings as `id` (values or
    placeholders); user templates have them in `shared` already."""
    context = {"values": profile.values, "mesh": profile.mesh, **shared}
    if ids is not None:
        context["id"] = ids
    return parse_patch(name, render_text(name, profile.templates[name], context, sandboxed))


class _DiskCache:
    """Built-in renders kept across processes, as JSON data in the private cache directory.

    Why: kustomize and Argo CD start the function once per build, and a render miss is what makes a run import
    Jinja2. An entry is the parsed render (placeholders in place of identity strings), its fills and its
    plain flag, under a file name derived from the full key; the key is stored too and compared on load.
    """

    def __init__(self) -> None:
        self._checked_size = False

    def _key_text(self, key: tuple) -> str:
        return json.dumps([_DISK_FORMAT, _code_fingerprint(), *key], separators=(",", ":"), default=repr)

    def load(self, name: str, key: tuple, identity: dict[str, str]) -> tuple[bytes, list[Fill], bool] | None:
        """The entry for `key`, or None when there is none or it is not exactly what store() writes."""
        if private_cache_dir() is None:
            return None  # (and no fingerprint to compute)
        key_text = self._key_text(key)
        path = entry_path("render", key_text, ".json")
        data = None if path is None else read_entry(path)
        if data is None:
            return None
        try:
            stored = json.loads(data)
            if not (isinstance(stored, dict) and stored.get("key") == key_text):
                return None
            tree, plain = stored["tree"], stored["plain"]
            fills = [(tuple(path_), tuple(parts)) for path_, parts in stored["fills"]]
            if not (isinstance(tree, dict) and set(tree) <= {"metadata", "spec"} and isinstance(plain, bool)):
                return None
            _check_tree(name, tree)
            for path_, parts in fills:  # every fill must name a string in the tree and known identity fields
                if len(parts) % 2 != 1 or not all(isinstance(p, str) for p in parts) or \
                        not all(p in identity for p in parts[1::2]):
                    return None
                node: Any = tree
                for step in path_:
                    node = node[step]
                if not isinstance(node, str):
                    return None
            if plain != is_plain(tree):
                return None
        except (ValueError, KeyError, IndexError, TypeError, TemplateError, RecursionError):
            return None
        return marshal.dumps(tree), fills, plain

    def store(self, key: tuple, parsed: dict, entry: tuple[bytes, list[Fill], bool]) -> None:
        if private_cache_dir() is None:
            return
        key_text = self._key_text(key)
        path = entry_path("render", key_text, ".json")
        if path is None:
            return
        self._bound(os.path.dirname(path))
        payload = {"key": key_text, "tree": parsed, "fills": [[list(p), list(parts)] for p, parts in entry[1]],
                   "plain": entry[2]}
        write_atomic(path, json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))

    def _bound(self, directory: str) -> None:
        """At most DISK_CACHE_SIZE entries: checked once per process, before its first store."""
        if self._checked_size:
            return
        self._checked_size = True
        try:
            entries = [e.path for e in os.scandir(directory) if e.name.startswith("render-")]
            if len(entries) >= DISK_CACHE_SIZE:
                for entry in entries:
                    os.unlink(entry)
        except OSError:
            pass


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """What else a render depends on besides its key: kinject's code (file names, sizes, mtimes, so an
    upgrade or a local edit invalidates the cache), the Python version, and the installed Jinja2."""
    from importlib.util import find_spec

    parts = [sys.version]
    package = os.path.dirname(os.path.abspath(__file__))
    for directory, _, files in sorted(os.walk(package)):
        for file in sorted(files):
            if file.endswith(".py"):
                st = os.stat(os.path.join(directory, file))
                parts.append(f"{os.path.relpath(os.path.join(directory, file), package)}:{st.st_size}:{st.st_mtime_ns}")
    spec = find_spec("jinja2")
    origin = spec.origin if spec is not None else None
    if origin:
        st = os.stat(origin)
        parts.append(f"{origin}:{st.st_size}:{st.st_mtime_ns}")
    return sha256_hex("\0".join(parts), 32)


def _json_key(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=repr)


RENDER_CACHE = RenderCache()
