"""Resource limits on untrusted input, checked before and right after parsing.

Why before: libyaml's composer recurses once per nesting level in C, so 50,000 nested `[` crash the
interpreter (a segfault, not an exception). A cheap upper bound on the nesting depth is computed from the raw
text; only when that bound is above the limit is the exact depth measured with libyaml's event parser, which
does not recurse. Why after: an alias bomb composes to a tiny graph but explodes when walked or dumped, so
alias uses are counted on the composed graph before anything walks it.
"""

from __future__ import annotations

import re
from typing import Mapping

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from .errors import InputError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INDENT = re.compile(r"^[ \t-]*", re.M)
# An alias token: `*name` where a token can start (after white space or a flow indicator).
_ALIAS = re.compile(r"(?:^|[\s\[{,])\*[^\s,\[\]{}]", re.M)


def _limits(limits: Mapping[str, int] | None) -> Mapping[str, int]:
    from .config import DEFAULT_LIMITS

    return {**DEFAULT_LIMITS, **(limits or {})}


def check_input(text: str, limits: Mapping[str, int] | None) -> None:
    """Size and nesting depth of raw input text; raises InputError."""
    lim = _limits(limits)
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > lim["maxInputBytes"] else len(text)
    if size > lim["maxInputBytes"]:
        raise InputError(
            f"input is {size} bytes, more than the limit of {lim['maxInputBytes']} (spec.limits.maxInputBytes)"
        )
    if _depth_bound(text) > lim["maxDepth"]:
        depth = _exact_depth(text, lim["maxDepth"])
        if depth > lim["maxDepth"]:
            raise InputError(
                f"input nests deeper than {lim['maxDepth']} levels (spec.limits.maxDepth); "
                "Kubernetes objects never do"
            )


def _depth_bound(text: str) -> int:
    flow = depth = 0
    for ch in _NOT_BRACKET.sub("", text):
        if ch in "[{":
            depth += 1
            flow = max(flow, depth)
        elif depth:
            depth -= 1
    # Each block level needs a deeper indentation (or a `- ` indicator): distinct prefixes bound the depth.
    block = 2 * len(set(_INDENT.findall(text)))
    return flow + block + 2


def _exact_depth(text: str, limit: int) -> int:
    depth = deepest = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
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
    """Alias uses in a composed document; raises InputError past the limit. With `text`, a regex first
    tells whether the text can hold an alias at all, which spares the walk for almost every manifest."""
    lim = _limits(limits)
    if text is not None and not _ALIAS.search(text):
        return
    seen: set[int] = set()
    aliases = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            aliases += 1
            if aliases > lim["maxAliases"]:
                raise InputError(
                    f"input uses more than {lim['maxAliases']} YAML aliases (spec.limits.maxAliases); "
                    "an alias bomb is refused instead of expanded"
                )
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for k, v in node.value:
                stack.append(k)
                stack.append(v)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
