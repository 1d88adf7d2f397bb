"""Fast reading and surgical editing of YAML text.

Why this module exists: a ruamel round-trip of a large bundle costs ~100x a libyaml scan (see the README's
benchmark). kinject therefore composes the whole input once with libyaml (`CSafeLoader`), which gives every
node its exact position in the text, builds plain data only for the objects it injects, and writes the output
by copying the input text and replacing only the spans whose data changed. Untouched objects, comments, key
order, quoting and indentation come out byte for byte.

The editor compares old data with new data node by node:
- maps: changed values are edited recursively, removed keys are cut, new keys are appended after the last
  entry at the map's indentation;
- sequences of named objects (containers by `name`, mounts by `mountPath`, ports by `containerPort`): matched
  elements are edited recursively, new ones inserted where the new order puts them, removed ones cut;
- anything else (scalars, flow collections, reordered lists) is replaced by freshly dumped YAML.
Whatever cannot be edited in place raises `_CannotEdit` and the caller replaces the enclosing node instead.
New text always comes from PyYAML's emitter, never from string formatting, so a value can never become
YAML structure.
"""

from __future__ import annotations

import gc
import json
import zlib
from contextlib import contextmanager
from typing import Any, Iterator

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import emit
from .errors import InputError

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_COMPRESS_FROM = 2048  # characters


class _CannotEdit(Exception):
    """This node cannot be edited in place; replace the enclosing node."""


# --------------------------------------------------------------------------------------------- parsing


@contextmanager
def _no_gc() -> Iterator[None]:
    # The cyclic GC scans every node object libyaml allocates; on large bundles that doubles parse time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compose_all(text: str) -> list[Node]:
    """All documents of `text` as libyaml nodes (empty documents dropped)."""
    with _no_gc():
        try:
            return [n for n in yaml.compose_all(text, Loader=Loader) if n is not None and not _empty_document(n)]
        except yaml.MarkedYAMLError as exc:
            raise InputError(_yaml_message(exc)) from None
        except yaml.YAMLError as exc:
            raise InputError(f"invalid YAML: {exc}") from None


def _empty_document(node: Node) -> bool:
    """An explicit empty document (`---` then `---`, or only a comment): kubectl and kustomize skip it."""
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null" and node.value == "" \
        and node.start_mark.index == node.end_mark.index


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = " ".join(p for p in (exc.context, exc.problem) if p)
    return f"invalid YAML{where}: {what}"


class _Constructor(Loader):  # type: ignore[misc, valid-type]
    """Builds plain data from already composed nodes (no second parse)."""

    def __init__(self) -> None:
        super().__init__("")


_constructor: _Constructor | None = None


_T = "tag:yaml.org,2002:"
_STR_TAG, _MAP_TAG, _SEQ_TAG = _T + "str", _T + "map", _T + "seq"
_INT_TAG, _BOOL_TAG, _NULL_TAG = _T + "int", _T + "bool", _T + "null"
_PLAIN_INT = __import__("re").compile(r"[-+]?(?:0|[1-9][0-9]*)")
_BOOLS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}


class _Slow(Exception):
    """A node the direct conversion does not handle: let PyYAML's constructor do the whole document."""


def _direct(node: Node) -> Any:
    """Plain data for the common case (str/int/bool/null scalars, maps, lists), ~4x faster than PyYAML's
    constructor; anything else (floats, timestamps, merge keys, custom tags) raises _Slow."""
    tag = node.tag
    if tag == _STR_TAG:
        return node.value
    if tag == _MAP_TAG:
        out = {}
        for k, v in node.value:
            if k.tag != _STR_TAG:
                raise _Slow  # merge keys, non-string keys
            out[k.value] = _direct(v)
        return out
    if tag == _SEQ_TAG:
        return [_direct(v) for v in node.value]
    if tag == _INT_TAG and _PLAIN_INT.fullmatch(node.value):
        return int(node.value)
    if tag == _BOOL_TAG and node.value.lower() in _BOOLS:
        return _BOOLS[node.value.lower()]
    if tag == _NULL_TAG:
        return None
    raise _Slow


def to_data(node: Node) -> Any:
    """Plain Python data of a composed node."""
    try:
        return _direct(node)
    except _Slow:
        pass
    except RecursionError:
        pass  # the constructor reports it the way the callers expect
    global _constructor
    if _constructor is None:
        _constructor = _Constructor()
    c = _constructor
    try:
        data = c.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise InputError(_yaml_message(exc)) from None
    except (ValueError, OverflowError) as exc:  # e.g. `0x_`: resolved as an int, not a valid one
        raise InputError(f"invalid YAML value near line {node.start_mark.line + 1}: {exc}") from None
    finally:
        c.constructed_objects = {}
        c.recursive_objects = {}
    return data


def mapping_get(node: Node, key: str) -> Node | None:
    """The value node of `key` in a mapping node (None when absent or not a mapping)."""
    if not isinstance(node, MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return v
    return None


def scalar_at(node: Node, *path: str) -> str | None:
    for key in path:
        node = mapping_get(node, key)  # type: ignore[assignment]
        if node is None:
            return None
    return node.value if isinstance(node, ScalarNode) and node.tag.endswith(":str") else None


def node_at(node: Node | None, *path: str) -> Node | None:
    for key in path:
        if node is None:
            return None
        node = mapping_get(node, key)
    return node


def is_block(node: Node) -> bool:
    return isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style


# --------------------------------------------------------------------------------------------- dumping


_dump_cache: dict[tuple[int, str], str] = {}


def dump_block(value: Any, indent: int) -> str:
    """`value` as block YAML, every line indented by `indent` spaces, ending with a newline.

    Small injected blocks repeat from workload to workload (istio-init, the volumes), so their dumps are
    cached by the JSON text of the value, which is ~10x cheaper to make than the YAML. Large blocks (the
    proxy container) name the workload and never repeat: caching them only held every one in memory twice."""
    try:
        key = (indent, json.dumps(value, separators=(",", ":"), default=_not_json))
    except (TypeError, ValueError):
        return emit.block(value, indent)
    if len(key[1]) > _DUMP_CACHED_UP_TO:
        return emit.block(value, indent)
    text = _dump_cache.get(key)
    if text is None:
        if len(_dump_cache) > 256:
            _dump_cache.clear()
        text = _dump_cache[key] = emit.block(value, indent)
    return text


_DUMP_CACHED_UP_TO = 2048


def _not_json(value: Any) -> Any:
    raise TypeError  # timestamps and binary: no cache key (their JSON would collide with strings)


def dump_document(value: Any) -> str:
    return emit.block(value, 0)


# --------------------------------------------------------------------------------------------- editing


class TextEditor:
    """Collects edits against one text and applies them in a single pass."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.edits: list[tuple[int, int, int, str | bytes]] = []  # (start, order, end, text or zlib)
        self._zdict: bytes | None = None  # see _compress

    # -- positions

    def line_start(self, pos: int) -> int:
        return self.text.rfind("\n", 0, pos) + 1

    def line_end(self, pos: int) -> int:
        """Index just after the newline that ends the line holding `pos` (or the end of the text)."""
        if pos > 0 and self.text[pos - 1] == "\n":
            return pos  # `pos` is already at the start of a line (block scalars end there)
        nl = self.text.find("\n", pos)
        return len(self.text) if nl < 0 else nl + 1

    def content_end(self, node: Node) -> int:
        """End of the node's own text, without the comments and blank lines libyaml counts to block ends."""
        while is_block(node) and node.value:
            last = node.value[-1]
            node = last[1] if isinstance(node, MappingNode) else last
        return node.end_mark.index

    def only_space_before(self, pos: int) -> bool:
        return self.text[self.line_start(pos) : pos].strip() == ""

    # -- primitive edits

    def add(self, start: int, end: int, text: str | bytes) -> None:
        if isinstance(text, str) and len(text) > _COMPRESS_FROM:
            text = self._compress(text)
        self.edits.append((start, len(self.edits), end, text))

    def _compress(self, text: str) -> str | bytes:
        """Large new texts (an injected sidecar is ~6 KB of YAML) are held compressed until the output is
        written: every edit must be kept until the run is known to succeed, and on a 1,000-workload bundle
        they were the largest share of memory. Sidecars differ from each other in a few names, so the first
        large text is kept as it is and primes the compressor for all the others (a zlib dictionary): each
        then takes a few hundred bytes instead of ~1.7 KB. zlib level 1 costs ~30 ms per 10 MB."""
        data = text.encode("utf-8")
        if self._zdict is None:
            self._zdict = data[-32768:]  # deflate looks back 32 KiB at most
            return text
        compressor = zlib.compressobj(1, zdict=self._zdict)
        return compressor.compress(data) + compressor.flush()

    def _decompress(self, blob: bytes) -> str:
        decompressor = zlib.decompressobj(zdict=self._zdict)
        return (decompressor.decompress(blob) + decompressor.flush()).decode("utf-8")

    def insert_lines(self, pos: int, text: str) -> None:
        if pos == len(self.text) and self.text and not self.text.endswith("\n"):
            text = "\n" + text
        self.add(pos, pos, text)

    def apply(self) -> str:
        if not self.edits:
            return self.text
        return "".join(self.pieces())

    def pieces(self) -> Iterator[str]:
        """The edited text in pieces, for writing out without building it whole (large outputs)."""
        pos = 0
        # Insertions go before a replacement that starts at the same place; otherwise creation order.
        for start, _, end, text in sorted(self.edits, key=lambda e: (e[0], e[2] > e[0], e[1])):
            if start < pos:
                raise AssertionError("overlapping YAML edits")  # a bug, never user input
            yield self.text[pos:start]
            yield text if isinstance(text, str) else self._decompress(text)
            pos = end
        yield self.text[pos:]

    # -- structural edits

    def edit_value(self, key: Node, value: Node, old: Any, new: Any, key_col: int) -> None:
        """Make the value of a block-map entry equal `new` (currently `old`)."""
        if same(old, new):
            return
        try:
            edits_before = len(self.edits)
            self._edit_in_place(value, old, new)
        except _CannotEdit:
            del self.edits[edits_before:]
            self._replace_entry_value(key, value, new, key_col)

    def edit_item(self, item: Node, old: Any, new: Any) -> None:
        """Make a block-sequence element equal `new`."""
        if same(old, new):
            return
        try:
            edits_before = len(self.edits)
            self._edit_in_place(item, old, new)
        except _CannotEdit:
            del self.edits[edits_before:]
            self._replace_item(item, new)

    def edit_node(self, node: Node, old: Any, new: Any) -> None:
        """Edit a node in place; raises _CannotEdit when only a replacement of its parent would do."""
        if not same(old, new):
            self._edit_in_place(node, old, new)

    def _edit_in_place(self, node: Node, old: Any, new: Any) -> None:
        if isinstance(node, MappingNode) and not node.flow_style and isinstance(old, dict) and isinstance(new, dict):
            self._edit_mapping(node, old, new)
        elif isinstance(node, SequenceNode) and not node.flow_style and isinstance(old, list) and isinstance(new, list):
            self._edit_sequence(node, old, new)
        else:
            raise _CannotEdit

    def _edit_mapping(self, node: MappingNode, old: dict, new: dict) -> None:
        entries: dict[Any, tuple[Node, Node]] = {}
        for k, v in node.value:
            if not isinstance(k, ScalarNode) or k.tag == "tag:yaml.org,2002:merge":
                raise _CannotEdit  # merge keys and complex keys: data and nodes do not line up
            entries[k.value] = (k, v)
        if len(entries) != len(node.value) or any(not isinstance(k, str) for k in old) or not new:
            raise _CannotEdit  # (an empty block mapping cannot exist: it is replaced by {})
        col = node.value[0][0].start_mark.column
        for key in old:
            if key not in new:
                self._delete_entry(*entries[key])
        for key, value in new.items():
            if key in old:
                if key not in entries:
                    raise _CannotEdit
                self.edit_value(*entries[key], old[key], value, col)
        added = {k: v for k, v in new.items() if k not in old}
        if added:
            last_value = node.value[-1][1]
            self.insert_lines(self.line_end(self.content_end(last_value)), dump_block(added, col))

    def _delete_entry(self, key: Node, value: Node) -> None:
        start = key.start_mark.index
        if not self.only_space_before(start):
            raise _CannotEdit  # first key of a sequence element ("- key: v"): replace the element
        self.add(self.line_start(start), self.line_end(self.content_end(value)), "")

    def _replace_entry_value(self, key: Node, value: Node, new: Any, key_col: int) -> None:
        # Everything after the `:` indicator is rewritten; the key and what precedes it stay.
        colon = self.text.index(":", key.end_mark.index)
        if is_block(value):
            end, ends_line = self.line_end(self.content_end(value)), True
        else:
            end = value.end_mark.index
            ends_line = isinstance(value, ScalarNode) and value.style in ("|", ">")
        self.add(colon + 1, end, _after_key(new, key_col, ends_line))

    def _replace_item(self, item: Node, new: Any) -> None:
        start = item.start_mark.index
        col = item.start_mark.column
        if is_block(item):
            end = self.line_end(self.content_end(item))
            ends_line = True
        else:
            end = item.end_mark.index
            ends_line = isinstance(item, ScalarNode) and item.style in ("|", ">")
        if isinstance(new, (dict, list)) and new:
            text = dump_block(new, col)[col:]
            if not ends_line:
                text = text.rstrip("\n")
        else:
            text = emit.scalar(new) + ("\n" if ends_line else "")
        self.add(start, end, text)

    def replace_document_node(self, node: Node, new: Any) -> None:
        """Replace a whole top-level item (used when an object must be rewritten entirely)."""
        self._replace_item(node, new)

    def _edit_sequence(self, node: SequenceNode, old: list, new: list) -> None:
        items: list[Node] = node.value
        if len(items) != len(old):
            raise _CannotEdit
        if not new:
            raise _CannotEdit  # an empty block sequence cannot exist: replace by []
        dash_col = self._dash_column(items[0])
        key_of = _sequence_key(old, new)
        if key_of is None:
            if len(old) == len(new):
                for item, o, n in zip(items, old, new):
                    self.edit_item(item, o, n)
                return
            if len(new) > len(old) and all(same(a, b) for a, b in zip(old, new)):
                end = self.line_end(self.content_end(items[-1]))
                self.insert_lines(end, dump_block(new[len(old):], dash_col))
                return
            raise _CannotEdit
        old_keys = [key_of(x) for x in old]
        new_keys = [key_of(x) for x in new]
        if len(set(old_keys)) != len(old_keys) or len(set(new_keys)) != len(new_keys):
            raise _CannotEdit
        old_set, new_set = set(old_keys), set(new_keys)
        if [k for k in new_keys if k in old_set] != [k for k in old_keys if k in new_set]:
            raise _CannotEdit  # kept elements changed order
        old_index = {k: i for i, k in enumerate(old_keys)}
        for i, k in enumerate(old_keys):
            if k not in new_set:
                self._delete_item(items[i])
        pending: list[Any] = []
        for value, k in zip(new, new_keys):
            if k in old_set:
                i = old_index[k]
                if pending:
                    self.insert_lines(self.line_start(items[i].start_mark.index), dump_block(pending, dash_col))
                    pending = []
                self.edit_item(items[i], old[i], value)
            else:
                pending.append(value)
        if pending:
            self.insert_lines(self.line_end(self.content_end(items[-1])), dump_block(pending, dash_col))

    def _dash_column(self, first_item: Node) -> int:
        dash = self.text.rfind("-", 0, first_item.start_mark.index)
        if dash < 0 or not self.only_space_before(dash):
            raise _CannotEdit
        return dash - self.line_start(dash)

    def _delete_item(self, item: Node) -> None:
        dash = self.text.rfind("-", 0, item.start_mark.index)
        if not self.only_space_before(dash):
            raise _CannotEdit
        self.add(self.line_start(dash), self.line_end(self.content_end(item)), "")


def _after_key(new: Any, key_col: int, ends_line: bool) -> str:
    """Text that follows `key:` for a replaced value."""
    if isinstance(new, (dict, list)) and new:
        text = "\n" + dump_block(new, key_col + 2)
        return text if ends_line else text.rstrip("\n")
    return " " + emit.scalar(new) + ("\n" if ends_line else "")


def _sequence_key(old: list, new: list):
    both = old + new
    if not both or not all(isinstance(x, dict) for x in both):
        return None
    for field in ("name", "mountPath"):
        if all(isinstance(x.get(field), str) for x in both):
            return lambda x, f=field: x[f]
    if all("containerPort" in x for x in both):
        return lambda x: (x["containerPort"], x.get("protocol", "TCP"))
    return None


def same(a: Any, b: Any) -> bool:
    """Data equality that tells `1`, `1.0` and `True` apart (YAML writes them differently)."""
    if a is b:  # injected templates share every unchanged subtree with the original
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


class SliceEditor(TextEditor):
    """Edits against a slice of a larger text: positions are the slice's, edits land in the parent."""

    def __init__(self, parent: TextEditor, offset: int, text: str) -> None:
        self.text = text
        self.parent = parent
        self.offset = offset
        self.edits = parent.edits  # shared, so callers can roll back by length as with the parent

    def add(self, start: int, end: int, text: str) -> None:
        self.parent.add(start + self.offset, end + self.offset, text)


def compose_slice(parent: TextEditor, start: int, end: int) -> tuple[Node, SliceEditor]:
    """Compose the node whose text runs from `start` to `end` in the parent's text (to the end of that
    line). The slice is padded with spaces to the node's column, so every position in it maps to the parent
    by one offset."""
    text = parent.text
    line = text.rfind("\n", 0, start) + 1
    col = start - line
    if end > 0 and text[end - 1] == "\n":
        stop = end  # block scalars end at the start of the next line already
    else:
        stop = text.find("\n", end)
        stop = len(text) if stop < 0 else stop + 1
    piece = " " * col + text[start:stop]
    try:
        node = yaml.compose(piece, Loader=Loader)
    except yaml.MarkedYAMLError as exc:
        raise InputError(_yaml_message(exc)) from None
    return node, SliceEditor(parent, start - col, piece)
