"""The pre-commit hooks `kinject-inject` and `kinject-check`.

pre-commit's contract is "exit non-zero on failure or modify files", and it only notices modifications of
tracked files, so the inject hook decides itself: it snapshots the files it is given, runs
`kinject inject --in-place` over all of them at once (so the Namespace objects among all the files decide
injection), and returns 1 when any byte changed, listing the files. The user reviews and re-stages.

`types: [yaml]` hands the hooks every YAML file (values.yaml, CI workflows, ...): files whose documents are not
all Kubernetes objects (apiVersion + kind) are skipped. Files that are not valid YAML are still passed on, so a
broken manifest fails loudly.

Run as `python -m kinject.commands.precommit [inject|check] [KINJECT OPTIONS] FILE...` (the hooks' entries),
or through `run_inject_hook(files)` / `run_check_hook(files)`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from kinject.commands.install import kinject_command

# `kinject inject` options that take a value as the next argument (`--opt VALUE`); `--opt=VALUE` needs nothing.
_VALUE_OPTIONS = frozenset({"--config", "--namespace", "--namespace-labels", "-c", "-n"})


def _snapshot(paths: list[Path]) -> dict[Path, bytes | None]:
    return {p: (p.read_bytes() if p.is_file() else None) for p in paths}


def is_manifest_file(path: str) -> bool:
    """False for YAML files that are not Kubernetes manifests (no document with both apiVersion and kind, or a
    document without them); True for manifests and for files that do not parse (kinject reports those)."""
    try:
        with open(path, "rb") as fh:
            docs = [d for d in yaml.load_all(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
                    if d is not None]
    except (OSError, yaml.YAMLError, ValueError):
        return True
    return bool(docs) and all(isinstance(d, dict) and "apiVersion" in d and "kind" in d for d in docs)


def manifest_files(files: list[str]) -> list[str]:
    return [f for f in files if is_manifest_file(f)]


def run_inject_hook(files: list[str], extra_args: list[str] | None = None) -> int:
    """Inject in place into `files`; return 0 when nothing changed, 1 when a file changed or kinject failed."""
    files = manifest_files(files)
    if not files:
        return 0
    paths = [Path(f) for f in files]
    before = _snapshot(paths)
    cmd = [*kinject_command(), "inject", "--in-place", *(extra_args or []), *files]
    rc = subprocess.run(cmd, check=False).returncode
    after = _snapshot(paths)
    changed = [p for p in paths if after[p] != before[p]]
    for p in changed:
        print(f"kinject: injected sidecars into {p}")
    if rc != 0:
        print(f"kinject-inject: `kinject inject` failed (exit {rc}); see the message above", file=sys.stderr)
        return rc if rc > 0 else 1
    if changed:
        print(f"kinject-inject: {len(changed)} file(s) changed; review and `git add` them", file=sys.stderr)
        return 1
    return 0


def run_check_hook(files: list[str], extra_args: list[str] | None = None) -> int:
    """`kinject check` over the manifest files among `files` (changes nothing); its exit code."""
    files = manifest_files(files)
    if not files:
        return 0
    return subprocess.run([*kinject_command(), "check", *(extra_args or []), *files], check=False).returncode


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split the hook's argv into (kinject inject options, files). pre-commit puts `args:` before the files."""
    options: list[str] = []
    files: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "--":
            files.extend(it)
            break
        if arg.startswith("-") and arg != "-":
            options.append(arg)
            if arg in _VALUE_OPTIONS:
                value = next(it, None)
                if value is None:
                    raise SystemExit(f"kinject-inject: option {arg} needs a value")
                options.append(value)
        else:
            files.append(arg)
    return options, files


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    hook = run_inject_hook
    if args and args[0] in ("inject", "check"):
        hook = run_check_hook if args.pop(0) == "check" else run_inject_hook
    options, files = split_args(args)
    return hook(files, options)


if __name__ == "__main__":
    raise SystemExit(main())
