"""Jinja2 for kinject: the environments, escaping, the sandbox for user templates, compiling and rendering.

Imported only when a template must really be rendered (render.py's caches answer most runs without it), since
Jinja2 costs a small run a fifth of its start-up and a large one a quarter of its memory.

Escaping: every `{{ expression }}` goes through `yaml_value` (the environments' `finalize`), which writes a
JSON scalar or a JSON flow collection. JSON is valid YAML, so an annotation value can never become YAML
structure, and since template *source* comes only from kinject or the function config, never from workload
data, no value can become template code either. There is no "safe"/raw escape hatch.

Built-in templates run in a plain Environment: their source ships with kinject, so the sandbox's per-call
checks buy nothing, and they are rendered rarely thanks to the caches. User templates (profile.user_templates)
run in an ImmutableSandboxedEnvironment with StrictUndefined, no loader (no include/import/extends of files),
no environment access, and these bounds: output <= 1 MiB (checked while streaming), `range` limited to
100,000 items per call and 1,000,000 per render, every intermediate string/list (`~`, `+`, `*`, `%`,
str.format, filters) <= 1 MiB with replace/join/indent estimated before they allocate, only non-amplifying
str/dict methods callable, filter size arguments and format widths <= 100,000, `**` exponents <= 64, no
mutable accumulators (no `namespace()`), and a 2 s wall-clock alarm (SIGALRM, only when rendering on the
main thread of a POSIX process; elsewhere the other bounds apply).
"""

from __future__ import annotations

import functools
import json
import marshal
import re
import signal
import sys
import threading
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from typing import Any, Callable, Iterator

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

from .cachedir import entry_path, read_entry, write_atomic
from .errors import TemplateError

MAX_OUTPUT_CHARS = 1 << 20
MAX_RENDER_SECONDS = 2.0
MAX_RANGE_TOTAL = 1_000_000

# Characters YAML cannot carry raw inside a double-quoted scalar (non-printable, or line breaks in YAML 1.1).
_UNSAFE_IN_YAML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _escape_char(match: re.Match) -> str:
    code = ord(match.group(0))
    if 0xD800 <= code <= 0xDFFF:
        raise TemplateError("a value contains a lone surrogate character and cannot be written as YAML")
    return f"\\u{code:04x}"


def yaml_value(value: Any) -> str:
    """Write any template value as a YAML-safe JSON scalar/collection (strings double-quoted and escaped)."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()  # StrictUndefined raises here
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"cannot write a {type(value).__name__} value into a template: {exc}") from None
    return _UNSAFE_IN_YAML.sub(_escape_char, text)



# ---------------------------------------------------------------------------------------------- environments

class _RenderBudget(threading.local):
    range_items = 0


_budget = _RenderBudget()


def _budgeted_range(*args: int) -> range:
    items = range(*args)
    if len(items) > 100_000:
        raise TemplateError("range() is limited to 100,000 items in user templates")
    _budget.range_items += len(items)
    if _budget.range_items > MAX_RANGE_TOTAL:
        raise TemplateError("template exceeded its loop budget (1,000,000 range items)")
    return items


MAX_SIZE_ARGUMENT = 100_000  # widths/indents/counts a filter or format spec may ask for
_BIG_FORMAT_WIDTH = re.compile(r"\d{6,}")


def _check_size(value: Any, what: str) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_OUTPUT_CHARS:
        raise TemplateError(f"{what} would build a value larger than {MAX_OUTPUT_CHARS} items/characters")
    return value


class _GuardedCodeGenerator(CodeGenerator):
    """Compile `a ~ b` to a size-checked join, so repeated concatenation cannot exhaust memory."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.guarded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _estimate_replace(text: Any, old: Any, new: Any, count: Any = None) -> int:
    text, old, new = str(text), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(0, len(new) - len(old))


def _estimate_join(items: list, separator: Any) -> int:
    return sum(len(str(i)) for i in items) + len(str(separator)) * max(0, len(items) - 1)


def _check_estimate(size: int, what: str) -> None:
    if size > MAX_OUTPUT_CHARS:
        raise TemplateError(f"{what} would build a value larger than {MAX_OUTPUT_CHARS} characters")


def _check_arguments(args: Any, what: str) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_SIZE_ARGUMENT:
            raise TemplateError(f"{what}: argument {arg} is too large in a user template")
        if isinstance(arg, str) and "%" in arg and _BIG_FORMAT_WIDTH.search(arg):
            raise TemplateError("format width too large in a user template")


def _guard_filter(name: str, func: Callable) -> Callable:
    """Refuse, before allocating, filter calls whose result would be huge (size arguments, format widths,
    replace/join/indent amplification); results are size-checked too."""
    skip = 2 if _PassArg.from_obj(func) is not None else 1

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_arguments([*args[skip:], *kwargs.values()], f"filter {name!r}")
        value, rest = (args[skip - 1], args[skip:]) if len(args) >= skip else (None, ())
        if name == "format" and isinstance(value, str):
            _check_arguments([value], "filter 'format'")
        if name == "replace" and len(rest) >= 2:
            _check_estimate(_estimate_replace(value, *rest[:3]), "replace")
        elif name == "join" and value is not None and not isinstance(value, str):
            items = list(value)
            separator = rest[0] if rest else kwargs.get("d", "")
            _check_estimate(_estimate_join(items, separator), "join")
            args = (*args[:skip - 1], items, *rest)
        elif name == "indent" and isinstance(value, str):
            width = rest[0] if rest else kwargs.get("width", 4)
            width_size = len(width) if isinstance(width, str) else int(width or 0)
            _check_estimate(len(value) + width_size * (value.count("\n") + 1), "indent")
        return _check_size(func(*args, **kwargs), f"filter {name!r}")

    return guarded


# Methods user templates may call on strings/containers: none of them can amplify memory on their own
# (`replace` and `join` are estimated first). ljust/rjust/center/zfill/expandtabs/translate... are refused:
# use the (guarded) filters instead.
_SAFE_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith",
    "find", "rfind", "index", "rindex", "count", "replace", "join", "title", "capitalize", "casefold",
    "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "isdecimal", "isnumeric", "partition",
    "rpartition", "removeprefix", "removesuffix", "format", "format_map", "get", "items", "keys", "values",
})


class _UserSandbox(ImmutableSandboxedEnvironment):
    """The sandbox for user templates: immutable data, no attribute escapes, size-capped operations."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (jinja's API)
        owner = getattr(__obj, "__self__", None)
        method = getattr(__obj, "__name__", "")
        if owner is not None and isinstance(owner, (str, bytes, list, tuple, dict)) and not isinstance(
                __obj, jinja2.runtime.Macro):
            if method not in _SAFE_METHODS:
                raise TemplateError(f"method {type(owner).__name__}.{method}() is not allowed in user templates")
            if method == "replace" and isinstance(owner, str) and len(args) >= 2:
                _check_estimate(_estimate_replace(owner, *args[:3]), "str.replace")
            elif method == "join" and isinstance(owner, str) and args:
                items = list(args[0])
                _check_estimate(_estimate_join(items, owner), "str.join")
                args = (items, *args[1:])
            _check_arguments([*args, *kwargs.values()], f"{type(owner).__name__}.{method}()")
        return _check_size(super().call(__context, __obj, *args, **kwargs), "a call")

    @staticmethod
    def guarded_concat(parts: Any) -> str:
        return _check_size("".join(map(str, parts)), "concatenation")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > 64:
                raise TemplateError("exponent too large in a user template")
            return left ** right
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and \
                        len(seq) * count > MAX_OUTPUT_CHARS:
                    raise TemplateError("sequence repetition too large in a user template")
            return left * right
        if operator == "%":
            if isinstance(left, str) and _BIG_FORMAT_WIDTH.search(left):
                raise TemplateError("format width too large in a user template")
            return _check_size(left % right, "formatting")
        return _check_size(left + right, "addition")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        if _BIG_FORMAT_WIDTH.search(value.__self__):
            raise TemplateError("format width too large in a user template")
        return lambda *args, **kwargs: _check_size(wrapped(*args, **kwargs), "str.format")


_COMMON_OPTIONS = dict(undefined=jinja2.StrictUndefined, finalize=yaml_value, autoescape=False,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, loader=None,
                       auto_reload=False, cache_size=0)


@lru_cache(maxsize=1)
def builtin_environment() -> jinja2.Environment:
    return jinja2.Environment(**_COMMON_OPTIONS)


@lru_cache(maxsize=1)
def sandbox_environment() -> jinja2.Environment:
    env = _UserSandbox(**_COMMON_OPTIONS)
    # Only data-building helpers: no lipsum/cycler/joiner/namespace (no mutable accumulators), and `range`
    # counts against the loop budget.
    env.globals = {"range": _budgeted_range, "dict": dict}
    return env


@lru_cache(maxsize=256)
def compile_template(name: str, source: str, sandboxed: bool) -> jinja2.Template:
    """Compile once per process; built-in templates also once per machine (bytecode cache, see below)."""
    env = sandbox_environment() if sandboxed else builtin_environment()
    try:
        if not sandboxed:
            code = _load_compiled(source)
            if code is None:
                code = env.compile(source, name)
                _store_compiled(source, code)
            return env.template_class.from_code(env, code, env.make_globals(None), None)
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {name!r}: syntax error at line {exc.lineno}: {exc.message}") from None


# Compiled built-in templates, kept across processes (cachedir.py). Why: kustomize starts the function once per
# build, and compiling the sidecar template (~20 ms) was the largest single cost of a small run. Only kinject's
# own templates are cached (user templates are compiled every time: their code must never come from a file
# another process could write); entries are keyed by the template source, Jinja2's and Python's versions.

def _compiled_path(source: str) -> str | None:
    return entry_path("template", f"{jinja2.__version__}\0{sys.version}\0{__file__}\0{source}", ".marshal")


def _load_compiled(source: str):
    path = _compiled_path(source)
    data = None if path is None else read_entry(path)
    if data is None:
        return None
    try:
        return marshal.loads(data)
    except (ValueError, EOFError, TypeError):
        return None


def _store_compiled(source: str, code) -> None:
    path = _compiled_path(source)
    if path is not None:
        write_atomic(path, marshal.dumps(code))


@contextmanager
def _deadline(seconds: float, name: str) -> Iterator[None]:
    """A wall-clock alarm for user templates; only possible on the main thread of a POSIX process."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise TemplateError(f"template {name!r} took longer than {seconds:g}s to render")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def render_text(name: str, source: str, context: dict, sandboxed: bool) -> str:
    template = compile_template(name, source, sandboxed)
    chunks: list[str] = []
    size = 0
    _budget.range_items = 0
    try:
        with _deadline(MAX_RENDER_SECONDS, name) if sandboxed else nullcontext():
            for chunk in template.generate(context):
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise TemplateError(f"template {name!r} produced more than {MAX_OUTPUT_CHARS} characters")
                chunks.append(chunk)
    except TemplateError as exc:
        if name not in exc.message:
            raise TemplateError(f"template {name!r}: {exc.message}") from None
        raise
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {name!r} failed to render: {exc}") from None
    except RecursionError:
        raise TemplateError(f"template {name!r} recursed too deeply") from None
    except Exception as exc:  # noqa: BLE001 - any template failure is reported with the template's name
        raise TemplateError(f"template {name!r} failed to render: {type(exc).__name__}: {exc}") from None
    return "".join(chunks)
