"""Command line: parse, dispatch, nothing else.

`kinject` with no arguments on a pipe, and `kinject fn`, take a fast path that never imports Typer: kustomize
starts the function once per build, so start-up time is the cost users pay most often (and kustomize before
v5.7 ignores `exec.args`, so `exec: {path: kinject}` must work with no arguments at all).
"""


import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args == ["fn"] or (not args and not sys.stdin.isatty()):
            from .commands import fn

            sys.exit(fn.main())
        app = _build_app()
        app(args=args, prog_name="kinject", standalone_mode=True)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:  # an unexpected failure: one line, exit 1, never a traceback on stdout
        if os.environ.get("KINJECT_DEBUG"):
            raise
        print(f"kinject: internal error: {type(exc).__name__}: {exc} (set KINJECT_DEBUG=1 for a traceback)",
              file=sys.stderr)
        sys.exit(1)


def _build_app():  # noqa: C901 - one flat list of commands reads best
    # Imported here, not at the top: pathlib alone costs the fn fast path ~8 ms (urllib.parse, ipaddress).
    from pathlib import Path
    from typing import List, Optional

    import typer

    from . import ISTIO_VERSION, __version__

    app = typer.Typer(
        add_completion=False,
        no_args_is_help=True,
        help="Istio sidecar injection at render time: a KRM function and a YAML stream filter.",
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def version_callback(value: bool) -> None:
        if value:
            typer.echo(f"kinject {__version__}\nIstio templates: {ISTIO_VERSION}")
            raise typer.Exit()

    @app.callback()
    def _root(
        version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True,
                                     help="Print kinject's version and the Istio version of its templates."),
    ) -> None:
        """kinject: render-time Istio sidecar injection."""

    files_arg = typer.Argument(None, help="Manifest files; '-' or nothing reads stdin.")
    config_opt = typer.Option(None, "--config", "-c", help="A SidecarInjector config file.")
    ns_opt = typer.Option(None, "--namespace", "-n",
                          help="Namespace of objects that have none (default: $HELM_NAMESPACE, then the config's "
                               "defaultNamespace, then 'default').")
    labels_opt = typer.Option(None, "--namespace-labels",
                              help="K=V[,K=V]: labels of that namespace when the input has no Namespace object for it.")
    injector_opt = typer.Option(None, "--injector-config",
                                help="ConfigMap istio-sidecar-injector (kubectl get -o yaml), or its data.config.")
    values_opt = typer.Option(None, "--values", help="ConfigMap istio-sidecar-injector, or its data.values JSON.")
    mesh_opt = typer.Option(None, "--mesh-config", help="ConfigMap istio, or its data.mesh YAML.")
    output_opt = typer.Option("table", "--output", "-o", help="table (for people) or json (for machines).")

    def options(files, config, namespace, namespace_labels, injector_config=None, values=None, mesh_config=None):
        from .inputs import Options

        return Options(list(files or []), config, namespace, namespace_labels, injector_config, values, mesh_config)

    @app.command("fn")
    def fn_cmd() -> None:
        """The KRM function: a ResourceList on stdin, the injected ResourceList on stdout."""
        from .commands import fn

        raise typer.Exit(fn.main())

    @app.command("inject")
    def inject_cmd(
        files: Optional[List[str]] = files_arg,
        config: Optional[str] = config_opt,
        namespace: Optional[str] = ns_opt,
        namespace_labels: Optional[str] = labels_opt,
        injector_config: Optional[str] = injector_opt,
        values: Optional[str] = values_opt,
        mesh_config: Optional[str] = mesh_opt,
        in_place: bool = typer.Option(False, "--in-place", "-i", help="Rewrite the files instead of printing."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No report on stderr."),
    ) -> None:
        """Inject a plain YAML stream (pipes, Helm post-renderer, files)."""
        from .commands import inject

        opts = options(files, config, namespace, namespace_labels, injector_config, values, mesh_config)
        raise typer.Exit(inject.run(opts, in_place=in_place, quiet=quiet))

    @app.command("explain")
    def explain_cmd(
        files: Optional[List[str]] = files_arg,
        config: Optional[str] = config_opt,
        namespace: Optional[str] = ns_opt,
        namespace_labels: Optional[str] = labels_opt,
        output: str = output_opt,
    ) -> None:
        """Why each workload is (or is not) injected, and with what."""
        from .commands import explain

        raise typer.Exit(explain.run(options(files, config, namespace, namespace_labels), output=output))

    @app.command("check")
    def check_cmd(
        files: Optional[List[str]] = files_arg,
        config: Optional[str] = config_opt,
        namespace: Optional[str] = ns_opt,
        namespace_labels: Optional[str] = labels_opt,
        output: str = output_opt,
    ) -> None:
        """Exit 1 when a workload that should carry the sidecar lacks it or carries a stale one."""
        from .commands import check

        raise typer.Exit(check.run(options(files, config, namespace, namespace_labels), output=output))

    @app.command("diff")
    def diff_cmd(
        files: Optional[List[str]] = files_arg,
        config: Optional[str] = config_opt,
        namespace: Optional[str] = ns_opt,
        namespace_labels: Optional[str] = labels_opt,
        output: str = output_opt,
    ) -> None:
        """What injection would change, per workload."""
        from .commands import diff

        raise typer.Exit(diff.run(options(files, config, namespace, namespace_labels), output=output))

    @app.command("uninject")
    def uninject_cmd(
        files: Optional[List[str]] = files_arg,
        in_place: bool = typer.Option(False, "--in-place", "-i", help="Rewrite the files instead of printing."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No report on stderr."),
    ) -> None:
        """Remove what kinject (or Istio) injected, using the status annotation."""
        from .commands import uninject

        raise typer.Exit(uninject.run(options(files, None, None, None), in_place=in_place, quiet=quiet))

    install = typer.Typer(help="Install kinject into a host tool.", no_args_is_help=True)
    app.add_typer(install, name="install")

    @install.command("kustomize-plugin")
    def install_kustomize(dir: Optional[Path] = typer.Option(None, "--dir", help="Plugin home directory.")) -> None:
        """Legacy exec plugin for `kubectl kustomize --enable-alpha-plugins`."""
        from .commands.install import install_kustomize_plugin

        typer.echo(str(install_kustomize_plugin(dir)))

    @install.command("helm-plugin")
    def install_helm(dir: Optional[Path] = typer.Option(None, "--dir", help="Helm plugins directory.")) -> None:
        """Helm 4 postrenderer/v1 plugin named kinject."""
        from .commands.install import install_helm_plugin

        typer.echo(str(install_helm_plugin(dir)))

    hook = typer.Typer(help="pre-commit hooks.", no_args_is_help=True)
    app.add_typer(hook, name="hook")
    passthrough = {"allow_extra_args": True, "ignore_unknown_options": True}

    @hook.command("inject", context_settings=passthrough)
    def hook_inject(ctx: typer.Context) -> None:
        """Inject in place; exit 1 when a file changed (pre-commit contract). [OPTIONS] FILES as `inject`."""
        from .commands import precommit

        raise typer.Exit(precommit.main(["inject", *ctx.args]))

    @hook.command("check", context_settings=passthrough)
    def hook_check(ctx: typer.Context) -> None:
        """Exit 1 listing workloads whose sidecar is missing or stale. [OPTIONS] FILES as `check`."""
        from .commands import precommit

        raise typer.Exit(precommit.main(["check", *ctx.args]))

    return app


if __name__ == "__main__":  # pragma: no cover
    main()
