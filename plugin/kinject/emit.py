"""A small, strict YAML emitter for plain data (dicts, lists, strings, numbers, booleans, null).

Why not PyYAML's dumper: its representer runs in Python and was the largest cost of a 1,000-workload run
(about 1 ms per injected workload). This emitter writes the same block style directly and caches scalar
renderings, which repeat constantly (env names, images, ports).

Why it is safe: a string is written plain only when it matches a conservative character set AND both YAML
1.1 (PyYAML's resolver) and YAML 1.2 (Go's yaml.v3, what kustomize reads with) would read it back as that
same string; otherwise it is single-quoted, or double-quoted with explicit escapes for anything that is not
printable. No value can become structure. Types it does not know (timestamps, binary) go to PyYAML.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from typing import Any

import yaml

# A leading "-" is plain-safe when a non-space follows ("-p", "--flag"), except for the "---" marker.
_PLAIN = re.compile(r"(?:[A-Za-z0-9_$(/.]|-(?=[A-Za-z0-9_$(/.=\-]))[A-Za-z0-9_$()./:=,@+%~\-]*(?: [A-Za-z0-9_$()./:=,@+%~\-]+)*")
# YAML 1.2 core-schema numbers and special floats that YAML 1.1 would read as strings ("0o17").
_YAML12_NUMBER = re.compile(
    r"[-+]?(?:0o[0-7]+|0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
# Characters YAML allows raw inside a quoted scalar (c-printable minus line breaks, tab and the BOM).
# U+2028/U+2029 are line breaks to YAML 1.1 readers, so they are escaped too.
# Written as the characters to escape, not as the complement of the printable ones: the same set, but the
# negated class took ~3 ms to compile on every start-up.
_NOT_PRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_resolver = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"


def string(value: str) -> str:
    """A YAML scalar that reads back as exactly `value` (as a string) in YAML 1.1 and 1.2."""
    # Short strings (names, images, ports) repeat and are cached; long ones are per workload (the status
    # annotation, owners) and a cache would only keep each of them twice until the run ends.
    return _short_string(value) if len(value) <= _CACHED_UP_TO else _string(value)


_CACHED_UP_TO = 160


@lru_cache(maxsize=4096)
def _short_string(value: str) -> str:
    return _string(value)


def _string(value: str) -> str:
    if (
        _PLAIN.fullmatch(value)
        and not value.endswith(":")
        and not value.startswith("---")
        and ": " not in value
        and not _YAML12_NUMBER.fullmatch(value)
        and _resolver.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG
    ):
        return value
    if not _NOT_PRINTABLE.search(value):
        return "'" + value.replace("'", "''") + "'"
    return _double_quoted(value)


def _double_quoted(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not _NOT_PRINTABLE.match(ch):
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
    out.append('"')
    return "".join(out)


def scalar(value: Any) -> str:
    """One-line YAML for any value (non-empty collections in flow style)."""
    if isinstance(value, str):
        return string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    if isinstance(value, bytes):  # !!binary on one line (PyYAML would write a block that breaks indentation)
        return '!!binary "' + base64.b64encode(value).decode("ascii") + '"'
    return _pyyaml_inline(value)


def _pyyaml_inline(value: Any) -> str:
    # floats, timestamps, binary, non-empty collections in flow context: PyYAML knows them all.
    text = yaml.dump(value, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), default_flow_style=True,
                     width=1 << 30, allow_unicode=False, sort_keys=False)
    if text.endswith("\n...\n"):
        text = text[: -len("\n...\n")]
    return text.rstrip("\n")


def block(value: Any, indent: int = 0) -> str:
    """`value` as block YAML, each line indented by `indent` spaces, ending with a newline.

    Layout: maps indent their children by two spaces, sequences under a key are not indented (the style
    `kubectl` and `kustomize` write)."""
    out: list[str] = []
    _node(value, " " * indent, out)
    return "".join(out)


def _node(value: Any, pad: str, out: list[str]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _entry(key, item, pad, out)
    elif isinstance(value, list) and value:
        for item in value:
            _item(item, pad, out)
    else:
        out.append(pad + scalar(value) + "\n")


def _key(key: Any) -> str:
    if isinstance(key, str):
        return string(key)
    if isinstance(key, (bool, int, float, bytes)) or key is None:
        return scalar(key)
    text = scalar(key)  # timestamps and other scalars PyYAML knows
    if "\n" in text or isinstance(key, (dict, list, tuple)):
        raise TypeError(f"unsupported mapping key {key!r}")
    return text


def _entry(key: Any, item: Any, pad: str, out: list[str]) -> None:
    k = _key(key)
    if isinstance(item, dict) and item:
        out.append(f"{pad}{k}:\n")
        _node(item, pad + "  ", out)
    elif isinstance(item, list) and item:
        out.append(f"{pad}{k}:\n")
        _node(item, pad, out)
    else:
        out.append(f"{pad}{k}: {scalar(item)}\n")


def _item(item: Any, pad: str, out: list[str]) -> None:
    if (isinstance(item, dict) or isinstance(item, list)) and item:
        start = len(out)
        _node(item, pad + "  ", out)
        # the first line of the nested block moves up onto the "- " line
        out[start] = pad + "- " + out[start][len(pad) + 2:]
    else:
        out.append(f"{pad}- {scalar(item)}\n")
