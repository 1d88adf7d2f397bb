"""`kinject install kustomize-plugin|helm-plugin`: write the small wrappers two hosts need.

* `kubectl kustomize` cannot run exec KRM functions (it skips them silently); it still runs *legacy exec
  plugins*: an executable at `<plugin home>/<group>/<version>/<lowercase kind>/<Kind>` called with argv[1] = the
  transformer config file, a plain YAML stream on stdin and on stdout. The wrapper runs
  `kinject inject --config "$1"`.
* Helm 4 takes a plugin *name* for `--post-renderer`: a `postrenderer/v1` plugin directory `kinject/` holding
  `plugin.yaml` and a wrapper that runs `kinject inject "$@"`.

Both wrappers call kinject by the absolute path of the installation that wrote them, so they keep working
when the host runs them with another `$PATH` (kubectl, Helm and CI images often do).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from kinject import __version__

KUSTOMIZE_PLUGIN_GROUP = "kinject.dev"
KUSTOMIZE_PLUGIN_VERSION = "v1alpha1"
KUSTOMIZE_PLUGIN_KIND = "SidecarInjector"
HELM_PLUGIN_NAME = "kinject"


def default_kustomize_plugin_home() -> Path:
    """Where kustomize (standalone and inside kubectl) looks for legacy plugins, in its own order."""
    if os.environ.get("KUSTOMIZE_PLUGIN_HOME"):
        return Path(os.environ["KUSTOMIZE_PLUGIN_HOME"])
    if os.environ.get("XDG_CONFIG_HOME"):
        return Path(os.environ["XDG_CONFIG_HOME"]) / "kustomize" / "plugin"
    return Path.home() / ".config" / "kustomize" / "plugin"


def default_helm_plugins_dir() -> Path:
    """Helm's plugin lookup directory: `$HELM_PLUGINS`, else `$HELM_DATA_HOME/plugins`, else the XDG default."""
    if os.environ.get("HELM_PLUGINS"):
        # A colon-separated list is allowed; Helm 4 looks in each, we install into the first.
        return Path(os.environ["HELM_PLUGINS"].split(os.pathsep)[0])
    if os.environ.get("HELM_DATA_HOME"):
        return Path(os.environ["HELM_DATA_HOME"]) / "plugins"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "helm" / "plugins"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "helm" / "plugins"


def kinject_command() -> list[str]:
    """The argv prefix that starts this very kinject installation, as absolute paths."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "kinject" and argv0.is_file() and os.access(argv0, os.X_OK):
        return [str(argv0.absolute())]
    # The console script sits next to the interpreter of its environment (venv/bin, pipx, /usr/local/bin).
    # Do not resolve symlinks: a venv's python is a symlink to the base interpreter.
    sibling = Path(sys.executable).absolute().parent / "kinject"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return [str(sibling)]
    found = shutil.which("kinject")
    if found:
        return [str(Path(found).absolute())]
    return [
        str(Path(sys.executable).absolute()),
        "-c",
        "import sys; from kinject.cli import main; sys.argv[0] = 'kinject'; sys.exit(main())",
    ]


def _write_executable(path: Path, text: str) -> None:
    """Atomically write `text` to `path` with mode 0755 (a half-written plugin must never be picked up)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_file(path: Path, text: str) -> None:
    _write_executable(path, text)
    os.chmod(path, 0o644)


def _command_line() -> str:
    return " ".join(shlex.quote(part) for part in kinject_command())


def install_kustomize_plugin(dir: Path | None = None) -> Path:  # noqa: A002 - the CLI option is --dir
    """Write the legacy exec plugin for `kubectl kustomize --enable-alpha-plugins`; return its path.

    `dir` is the plugin home (default: `$KUSTOMIZE_PLUGIN_HOME`, else `$XDG_CONFIG_HOME/kustomize/plugin`, else
    `~/.config/kustomize/plugin`). The file lands at
    `DIR/kinject.dev/v1alpha1/sidecarinjector/SidecarInjector`.
    """
    home = Path(dir) if dir is not None else default_kustomize_plugin_home()
    target = (
        home.expanduser()
        / KUSTOMIZE_PLUGIN_GROUP
        / KUSTOMIZE_PLUGIN_VERSION
        / KUSTOMIZE_PLUGIN_KIND.lower()
        / KUSTOMIZE_PLUGIN_KIND
    )
    script = f"""#!/bin/sh
# kinject {__version__}: legacy kustomize exec plugin for kind {KUSTOMIZE_PLUGIN_KIND}
# ({KUSTOMIZE_PLUGIN_GROUP}/{KUSTOMIZE_PLUGIN_VERSION}), written by `kinject install kustomize-plugin`.
# kustomize calls it with argv[1] = the transformer config file, a YAML stream on stdin, expects one on stdout.
# Re-run `kinject install kustomize-plugin` after moving or upgrading kinject.
if [ -z "${{1:-}}" ]; then
  echo "kinject kustomize plugin: missing config file argument (run it through kustomize)" >&2
  exit 2
fi
exec {_command_line()} inject --config "$1"
"""
    _write_executable(target, script)
    return target


def install_helm_plugin(dir: Path | None = None) -> Path:  # noqa: A002 - the CLI option is --dir
    """Write the Helm 4 `postrenderer/v1` plugin `kinject`; return the plugin directory.

    `dir` is the plugins directory (default: `$HELM_PLUGINS`, else `$HELM_DATA_HOME/plugins`, else Helm's
    default data dir). Use it with `helm template|install ... --post-renderer kinject
    [--post-renderer-args --namespace-labels=istio-injection=enabled]`. Helm 4 discards the plugin's stderr, so
    the wrapper also keeps the last error in `$HELM_PLUGIN_DIR/last-error.log`.
    """
    plugins = Path(dir) if dir is not None else default_helm_plugins_dir()
    plugin_dir = plugins.expanduser() / HELM_PLUGIN_NAME
    plugin_yaml = f"""# Written by `kinject install helm-plugin` (kinject {__version__}).
apiVersion: v1
type: postrenderer/v1
name: {HELM_PLUGIN_NAME}
version: {__version__}
runtime: subprocess
runtimeConfig:
  platformCommand:
  - command: ${{HELM_PLUGIN_DIR}}/postrender
"""
    wrapper = f"""#!/bin/sh
# kinject {__version__}: Helm 4 post-renderer. Helm sends the rendered manifests (hooks included) on stdin and
# reads the injected manifests on stdout; --post-renderer-args arrive as "$@" and go to `kinject inject`.
# Helm 4 hides this plugin's stderr: on failure the message also goes to the terminal (if any) and is kept in
# last-error.log next to this file; `helm --debug` shows the exit code.
# A leading `inject` (the Helm 3 style argument) is accepted and dropped.
if [ "${{1:-}}" = "inject" ]; then
  shift
fi
log="${{HELM_PLUGIN_DIR:-$(dirname "$0")}}/last-error.log"
err=$(mktemp "${{TMPDIR:-/tmp}}/kinject-helm.XXXXXX") || exit 1
{_command_line()} inject "$@" 2>"$err"
rc=$?
if [ "$rc" -ne 0 ]; then
  cat "$err" >&2
  {{ echo "kinject post-renderer failed (exit $rc) at $(date -u '+%Y-%m-%dT%H:%M:%SZ'):"; cat "$err"; }} >"$log" 2>/dev/null || true
  # Interactive runs: show the reason on the terminal Helm did not silence; no terminal (CI): nothing happens.
  {{ cat "$err" >/dev/tty; }} 2>/dev/null || true
else
  cat "$err" >&2
fi
rm -f "$err"
exit "$rc"
"""
    _write_file(plugin_dir / "plugin.yaml", plugin_yaml)
    _write_executable(plugin_dir / "postrender", wrapper)
    return plugin_dir
