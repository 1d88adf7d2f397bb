"""The stderr report of `kinject inject` (Linkerd's shape + namespace + reason), --quiet, the progress
counter (terminal only, never stdout), and `kinject --version`."""

from __future__ import annotations

import io

import pytest

from test_explain import BUNDLE, ERROR_DOC, inproc, kinject

from kinject import ISTIO_VERSION, __version__
from kinject.pipeline import Outcome, Report
from kinject.policy import Decision
from kinject.report import Progress, line, lines
from kinject.workloads import ObjectRef


def test_report_shape_on_a_real_bundle():
    proc = kinject("inject", "-", stdin=BUNDLE)
    assert proc.returncode == 0
    err = proc.stderr.split("\n")
    assert err[0] == "" and err[-1] == "" and err[-2] == ""  # blank line before and after, like Linkerd
    body = [e for e in err if e]
    assert body == [
        'deployment "frontend" in namespace "shop" injected',
        'deployment "cart" in namespace "shop" injected',
        'deployment "batch-admin" in namespace "shop" skipped: namespace \'shop\' has istio-injection=enabled; '
        'pod label sidecar.istio.io/inject=false',
        'statefulset "redis" in namespace "shop" injected',
        'cronjob "nightly-report" in namespace "shop" injected',
        'daemonset "node-exporter" in namespace "shop" skipped: namespace \'shop\' has istio-injection=enabled; '
        'the pod uses hostNetwork',
        'deployment "old-billing" in namespace "legacy" skipped: namespace \'legacy\' has '
        'istio-injection=\'disabled\': no webhook matches',
        'deployment "grafana" in namespace "monitoring" injected',
        'deployment "prometheus" in namespace "monitoring" skipped: namespace \'monitoring\' has no '
        'istio-injection or istio.io/rev label; the pod does not opt in',
        'job "migrate" in namespace "kube-system" skipped: namespace \'kube-system\' (no Namespace object in the '
        'input and none configured, so unlabelled) has no istio-injection or istio.io/rev label; pod label '
        'sidecar.istio.io/inject=true; namespace \'kube-system\' is a system namespace Istio never injects',
        "5 injected (0 already current), 5 skipped, 0 errors",
    ]
    assert "skipped" not in proc.stdout and "injected (0" not in proc.stdout  # the report never goes to stdout


def test_every_skipped_line_has_namespace_and_reason():
    code, out, err = inproc("inject", "-", stdin=BUNDLE)
    for entry in err.splitlines():
        if " skipped:" in entry or (" skipped" in entry and " in namespace " in entry):
            assert ' in namespace "' in entry and " skipped: " in entry and entry.split(" skipped: ")[1]


def test_already_current_and_errors():
    injected = kinject("inject", "-q", "-", stdin=BUNDLE).stdout
    proc = kinject("inject", "-", stdin=injected)
    assert 'deployment "frontend" in namespace "shop" injected (sidecar already current)' in proc.stderr
    assert "5 injected (5 already current), 5 skipped, 0 errors" in proc.stderr
    proc = kinject("inject", "-", stdin=BUNDLE + ERROR_DOC)
    assert proc.returncode == 1 and proc.stdout == ""
    assert 'deployment "broken" in namespace "shop" error: ' in proc.stderr and "proxyCPU" in proc.stderr


def test_quiet_silences_the_report_but_not_errors():
    proc = kinject("inject", "--quiet", "-", stdin=BUNDLE)
    assert proc.returncode == 0 and proc.stderr == ""
    proc = kinject("inject", "-q", "-", stdin=BUNDLE + ERROR_DOC)
    assert proc.returncode == 1 and "broken" in proc.stderr


def _outcome(status: str, name: str = "web", warnings=(), revision="default", reasons=("r1", "r2")) -> Outcome:
    decision = Decision(status != "skipped", revision if status != "skipped" else None, list(reasons))
    return Outcome(ref=ObjectRef("apps/v1", "Deployment", name, "shop"), status=status,
                   message="skipped: r1; r2" if status == "skipped" else "boom" if status == "error" else status,
                   decision=decision, warnings=list(warnings))


def test_lines_unit():
    report = Report(outcomes=[_outcome("injected"), _outcome("injected", "canary", revision="canary"),
                              _outcome("unchanged", "api"), _outcome("skipped", "db"),
                              _outcome("error", "bad"), _outcome("injected", "w", warnings=["status port 0"])],
                    warnings=[("ConfigMap istio-sidecar-injector: Go templates ignored", None)])
    assert lines(report) == [
        "",
        '\u203c deployment/w in namespace "shop": status port 0',
        "\u203c ConfigMap istio-sidecar-injector: Go templates ignored",
        "",
        'deployment "web" in namespace "shop" injected',
        'deployment "canary" in namespace "shop" injected (revision canary)',
        'deployment "api" in namespace "shop" injected (sidecar already current)',
        'deployment "db" in namespace "shop" skipped: r1; r2',
        'deployment "bad" in namespace "shop" error: boom',
        'deployment "w" in namespace "shop" injected',
        "4 injected (1 already current), 1 skipped, 1 errors",
        "",
    ]
    assert lines(Report()) == ["", "no workloads in the input", ""]
    assert line(_outcome("skipped", reasons=())) == 'deployment "web" in namespace "shop" skipped: r1; r2'


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_silent_when_not_a_terminal():
    stream = io.StringIO()
    with Progress(10_000, stream, min_total=1) as progress:
        for _ in range(10_000):
            progress.tick()
    assert stream.getvalue() == ""


def test_progress_silent_for_short_runs_on_a_terminal():
    stream, clock = Terminal(), Clock()
    with Progress(100, stream, min_total=500, delay=1.0, clock=clock) as progress:
        for _ in range(100):
            progress.tick()
    assert stream.getvalue() == ""


def test_progress_for_large_runs_on_a_terminal_then_erased():
    stream = Terminal()
    with Progress(1000, stream, min_total=500, every=250, clock=Clock()) as progress:
        for _ in range(1000):
            progress.tick()
    text = stream.getvalue()
    assert text.startswith("\rinjecting 1/1000 workloads")
    assert "\rinjecting 250/1000 workloads" in text and "\rinjecting 1000/1000 workloads" in text
    assert "\rinjecting 251/1000" not in text  # throttled
    assert text.endswith("\r\x1b[2K")  # the line is cleared before the report


def test_progress_after_the_delay_on_a_terminal():
    stream, clock = Terminal(), Clock()
    progress = Progress(100, stream, min_total=500, delay=1.0, every=10, clock=clock)
    progress.tick()
    assert stream.getvalue() == ""
    clock.now = 1.5  # a slow run: show where it is
    progress.tick()
    assert stream.getvalue() == "\rinjecting 2/100 workloads"
    progress.close()


def test_inject_never_writes_progress_to_stdout_or_in_fn_mode():
    import yaml

    many = "---\n".join(BUNDLE.split("---\n")[5].replace("name: cart", f"name: cart-{i}") for i in range(30))
    proc = kinject("inject", "-", stdin=BUNDLE.split("---\n")[0] + "---\n" + many)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stdout and "\r" not in proc.stderr  # stderr is a pipe here: no progress
    assert proc.stderr.count("\" injected\n") == 30
    rl = yaml.safe_dump({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList",
                         "items": list(yaml.safe_load_all(proc.stdout))})
    fn = kinject("fn", stdin=rl)
    assert fn.returncode == 0 and "\r" not in fn.stdout and "injecting" not in fn.stderr


@pytest.mark.parametrize("args", [["--version"]])
def test_version(args):
    proc = kinject(*args)
    assert proc.returncode == 0
    assert proc.stdout == f"kinject {__version__}\nIstio templates: {ISTIO_VERSION}\n"
    assert ISTIO_VERSION.startswith("1.")
    code, out, err = inproc(*args)
    assert code == 0 and out.startswith(f"kinject {__version__}\n")


EVIL = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: "web\\e]0;owned\\a\\e[2J"
  namespace: x
spec:
  template:
    metadata:
      labels: {sidecar.istio.io/inject: "true"}
    spec:
      containers:
      - {name: a, image: b}
"""


@pytest.mark.parametrize("command", ["inject", "explain", "check", "diff", "uninject"])
def test_no_terminal_escapes_from_object_names(command):
    """A name with terminal escape sequences is printed escaped, by every command, on stdout and stderr."""
    stdin = EVIL if command != "uninject" else kinject("inject", "-q", "-", stdin=EVIL).stdout
    proc = kinject(command, "-", stdin=stdin)
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
    if command != "inject" and command != "uninject":  # those two print YAML (escaped by the emitter)
        assert "\x1b" not in proc.stdout
        assert "web\\x1b]0;owned\\x07\\x1b[2J" in proc.stdout
    else:
        assert "web\\x1b]0;owned\\x07\\x1b[2J" in proc.stderr


def test_progress_as_a_pipeline_callback():
    stream = Terminal()
    progress = Progress(0, stream, min_total=500, every=500, clock=Clock())
    for done in range(1, 1001):
        progress(done, 1000)
    progress.close()
    assert "\rinjecting 500/1000 workloads" in stream.getvalue()
    assert "\rinjecting 1000/1000 workloads" in stream.getvalue()
    silent = io.StringIO()
    progress = Progress(0, silent, min_total=1)
    progress(5, 10)
    assert silent.getvalue() == ""
