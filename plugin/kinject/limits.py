"""Resource limits on untrusted input, checked before and right after parsing.

Why before: libyaml's composer recurses once per nesting level in C, so 50,000 nested `[` crash the
interpreter (a segfault, not an exception) with libyaml builds older than 0.2.6, and PyYAML's constructor
recurses in Python (RecursionError) long before that. A cheap upper bound on the nesting depth is computed
from the raw text; only when that bound is above the limit is the exact depth measured with libyaml's event
parser, which does not recurse.

Why after: an alias bomb ("billion laughs") composes to a tiny graph but explodes when walked, converted to
strings or dumped; and an alias inside its own anchored node (`&a [*a]`) composes to a cycle that never ends.
So the composed graph is checked before anything walks it: alias uses are counted, cycles are refused, and the
size of the *expanded* tree (each alias counted with everything below it) is bounded.

`safe_load` applies all of this to a YAML text found *inside* the input (an annotation value, a ConfigMap's
`data.mesh`, a rendered user template), which must be as distrusted as the input itself.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import InputError
from .yamltext import Loader, _yaml_message, to_data

_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# The start of a line up to its first content character: indentation plus the block indicators (`- `, `? `,
# `: `) after which a nested block collection may begin on the same line (`- - - x` nests three sequences).
_PREFIX = re.compile(r"^[ \t\-?:]*", re.M)
# An alias token: `*name` where a token can start (after white space, a flow indicator, or the `:` of a JSON
# style key such as `{"a":*b}`).
_ALIAS = re.compile(r"(?:^|[\s\[{,:])\*[^\s,\[\]{}]", re.M)

# Characters YAML does not allow in a stream (YAML 1.1 §5.1: printable only; tab, LF, CR and NEL allowed).
# libyaml refuses them with a byte position only; checking first gives the line and column.
_NOT_PRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff\ud800-\udfff]")

# The expanded tree of one document (aliases counted with everything below them) may hold at most this many
# nodes per allowed alias (spec.limits.maxAliases): 100,000 nodes with the default of 100. A Kubernetes object
# that shares an env list through an anchor stays far below; a billion-laughs bomb of 9 x 10 aliases is 10^9.
EXPANSION_PER_ALIAS = 1000

# What a function config may raise the limits to. The config sits in the same (untrusted) repository as the
# manifests, so in a shared renderer it must not be able to switch the protections off: past these ceilings
# libyaml/PyYAML recursion or the memory of the renderer are at risk.
CEILINGS = {
    "maxInputBytes": 1 << 30,  # 1 GiB
    "maxDepth": 250,  # PyYAML's representer (new text) recurses ~3 Python frames per level (limit 1000)
    "maxAliases": 1000,  # so at most 1,000,000 expanded nodes per document
}


# The operator of a shared renderer (not the repositories it renders) sets these in the environment, e.g.
# KINJECT_LIMIT_MAX_INPUT_BYTES=16777216 on an Argo CD repo-server: each replaces the default and becomes the
# ceiling a function config can no longer raise.
ENV_LIMITS = {"maxInputBytes": "KINJECT_LIMIT_MAX_INPUT_BYTES", "maxDepth": "KINJECT_LIMIT_MAX_DEPTH",
              "maxAliases": "KINJECT_LIMIT_MAX_ALIASES"}


def operator_limits() -> tuple[dict[str, int], dict[str, int]]:
    """(defaults, ceilings) after the operator's environment variables."""
    import os

    from .config import DEFAULT_LIMITS

    defaults, ceilings = dict(DEFAULT_LIMITS), dict(CEILINGS)
    for key, var in ENV_LIMITS.items():
        raw = os.environ.get(var)
        if raw is None or not raw.strip():
            continue
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            value = 0
        if value <= 0:
            raise InputError(f"{var}={raw!r}: expected a positive integer")
        defaults[key] = ceilings[key] = min(value, CEILINGS[key])
    return defaults, ceilings


def _limits(limits: Mapping[str, int] | None) -> Mapping[str, int]:
    from .config import DEFAULT_LIMITS

    defaults, ceilings = operator_limits()
    merged = {**defaults, **(limits or {})}
    for key, ceiling in ceilings.items():
        if merged.get(key, 0) > ceiling:
            # FunctionConfig.limits carries the built-in defaults too: those just yield to the operator's
            # values; a value the config really asks for above the ceiling is an error.
            if merged[key] == DEFAULT_LIMITS.get(key):
                merged[key] = ceiling
                continue
            source = f" ({ENV_LIMITS[key]})" if ceiling != CEILINGS[key] else ""
            raise InputError(f"spec.limits.{key}: {merged[key]} is above the ceiling of {ceiling}{source} that "
                             "protects shared renderers", field=f"spec.limits.{key}")
    return merged


def check_input(text: str, limits: Mapping[str, int] | None) -> None:
    """Size and nesting depth of raw input text; raises InputError."""
    lim = _limits(limits)
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > lim["maxInputBytes"] else len(text)
    if size > lim["maxInputBytes"]:
        raise InputError(
            f"input is {size} bytes, more than the limit of {lim['maxInputBytes']} (spec.limits.maxInputBytes)"
        )
    bad, depth_bound = _scan_text(text)
    if bad is not None:
        pos = bad.start()
        line = text.count("\n", 0, pos) + 1
        column = pos - text.rfind("\n", 0, pos)
        raise InputError(
            f"invalid YAML at line {line}, column {column}: control character U+{ord(bad.group()):04X} is not "
            "allowed in YAML text (write it as an escape inside a double-quoted string)"
        )
    if depth_bound > lim["maxDepth"]:
        depth = _exact_depth(text, lim["maxDepth"])
        if depth > lim["maxDepth"]:
            raise InputError(
                f"input nests deeper than {lim['maxDepth']} levels (spec.limits.maxDepth); "
                "Kubernetes objects never do"
            )


_last_scan: tuple = (None, None, 0)


def _scan_text(text: str) -> tuple[re.Match | None, int]:
    """The first control character and the depth bound of `text`; neither depends on the limits, so when
    `kinject fn` checks a ResourceList again with its functionConfig's limits the last answer is reused."""
    global _last_scan
    if _last_scan[0] is not text:
        _last_scan = (text, _NOT_PRINTABLE.search(text), _depth_bound(text))
    return _last_scan[1], _last_scan[2]


def _depth_bound(text: str) -> int:
    """An upper bound of the nesting depth, from the text alone (linear, no parsing)."""
    flow = depth = 0
    for ch in _NOT_BRACKET.sub("", text):
        if ch in "[{":
            depth += 1
            flow = max(flow, depth)
        elif depth:
            depth -= 1
    # A nested block collection starts at a strictly greater column than its parent (an "indentless" sequence
    # as a mapping value shares its key's column, but cannot directly hold another one), and it starts within
    # the indentation/indicator prefix of its line: so 2 x (longest prefix + 1) bounds the block depth.
    longest = max((len(p) for p in _PREFIX.findall(text)), default=0)
    block = 2 * (longest + 1)
    return flow + block + 2


def _exact_depth(text: str, limit: int) -> int:
    depth = deepest = 0
    try:
        for event in yaml.parse(text, Loader=Loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > limit:
                    return depth
                deepest = max(deepest, depth)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return deepest  # the composer reports the syntax error with its position
    return deepest


def check_nodes(root: Node, limits: Mapping[str, int] | None, text: str | None = None) -> None:
    """Duplicate keys, alias uses, cycles and the expanded size of a composed document; raises InputError.
    With `text`, a regex first tells whether the text can hold an alias at all, which spares the alias walk
    for almost every manifest."""
    if text is not None and not _may_hold_alias(text, root):
        check_duplicate_keys(root)
        return
    _check_aliases(root, _limits(limits))  # (callers check the text with the same limits: their errors came then)
    check_duplicate_keys(root)


def check_duplicate_keys(root: Node) -> None:
    """A mapping that holds the same key twice: PyYAML silently keeps the last value, kinject's own readers
    (`mapping_get`) the first, kubectl and kustomize refuse the object. So a duplicate could make kinject decide
    on other data than the cluster will see: refuse it, naming the key and both lines. (Merge keys `<<` may
    repeat.) Costs ~7% of libyaml's compose time; an alias-free walk, as aliases are checked first."""
    stack = [root]  # shared (aliased) nodes are walked once per use: bounded by the alias checks
    while stack:
        node = stack.pop()
        if isinstance(node, MappingNode):
            keys: dict[str, Node] = {}
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    first = keys.get(key.value)
                    if first is not None:
                        raise InputError(
                            f"duplicate key {key.value!r} at line {key.start_mark.line + 1}, column "
                            f"{key.start_mark.column + 1} (first at line {first.start_mark.line + 1}); "
                            "kubectl and kustomize refuse duplicate keys"
                        )
                    keys[key.value] = key
                stack.append(value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


def _check_aliases(root: Node, lim: Mapping[str, int]) -> None:
    max_aliases = lim["maxAliases"]
    max_expanded = max_aliases * EXPANSION_PER_ALIAS
    size: dict[int, int] = {}  # id(node) -> expanded size of the tree below it (done nodes only)
    on_path: set[int] = set()  # nodes whose subtree is being walked: meeting one again is a cycle
    aliases = 0
    # Iterative post-order walk (no recursion: the depth is bounded, but not by Python's stack).
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > max_expanded:
                raise InputError(
                    f"YAML aliases expand to more than {max_expanded} nodes (spec.limits.maxAliases x "
                    f"{EXPANSION_PER_ALIAS}); an alias bomb is refused instead of expanded"
                )
            size[key] = total
            continue
        if key in on_path:
            raise InputError(_mark(node, "a YAML alias refers to a node that contains it (a recursive "
                                         "structure); Kubernetes objects cannot be recursive"))
        if key in size:
            aliases += 1
            if aliases > max_aliases:
                raise InputError(
                    f"input uses more than {max_aliases} YAML aliases (spec.limits.maxAliases); "
                    "an alias bomb is refused instead of expanded"
                )
            continue
        children = _children(node)
        if not children:
            size[key] = 1
            continue
        on_path.add(key)
        stack.append((node, True))
        # A node met twice among pending siblings is walked once; its second visit counts as an alias.
        stack.extend((c, False) for c in reversed(children))
    return


def _may_hold_alias(text: str, root: Node) -> bool:
    # Only the document's own span: a stream of 20,000 documents must not be scanned 20,000 times.
    start = getattr(getattr(root, "start_mark", None), "index", 0)
    end = getattr(getattr(root, "end_mark", None), "index", len(text))
    if not 0 <= start <= end <= len(text):
        start, end = 0, len(text)
    if text.find("*", start, end) < 0:
        return False
    return _ALIAS.search(text, max(start - 1, 0), end) is not None


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return node.value
    return []


def _mark(node: Node, message: str) -> str:
    mark = getattr(node, "start_mark", None)
    return f"{message} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else message


def safe_load(text: str, where: str, limits: Mapping[str, int] | None = None) -> Any:
    """Parse one YAML document found inside the input (an annotation value, a ConfigMap key, a rendered
    template) with the same limits as the input: depth, aliases, expansion. Raises InputError naming `where`."""
    try:
        check_input(text, limits)
        try:
            nodes = list(yaml.compose_all(text, Loader=Loader))
        except yaml.MarkedYAMLError as exc:
            raise InputError(_yaml_message(exc)) from None
        except yaml.YAMLError as exc:
            raise InputError(f"invalid YAML: {exc}") from None
        nodes = [n for n in nodes if n is not None]
        if len(nodes) > 1:
            raise InputError(f"expected one YAML document, found {len(nodes)}")
        if not nodes:
            return None
        check_nodes(nodes[0], limits, text)
        return to_data(nodes[0])
    except InputError as exc:
        raise InputError(f"{where}: {exc.message}", field=exc.field) from None


def read_limited(stream: Any, name: str, limits: Mapping[str, int] | None = None) -> bytes:
    """Read a binary stream (stdin, an open file) up to maxInputBytes: a larger input is refused after reading
    one byte more than the limit, never loaded whole (memory is ~50-80x the input size once composed)."""
    limit = _limits(limits)["maxInputBytes"]
    # In chunks: one read(limit + 1) would ask the allocator for a 1 GiB buffer on every run.
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise InputError(f"{name}: input is more than {limit} bytes (spec.limits.maxInputBytes); not read further")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_READ_CHUNK = 1 << 20
