"""Shared helpers of the security, limits and fuzz tests: running kinject (in process, or as a confined
subprocess for inputs that could crash or exhaust the interpreter), hostile values, and hypothesis strategies
for valid bundles.

`KINJECT_FUZZ_EXAMPLES=N` scales every property/fuzz test to N examples (the default keeps the whole
security suite well under a minute).
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parent.parent
CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
FUZZ_EXAMPLES = int(os.environ.get("KINJECT_FUZZ_EXAMPLES") or 0)


OUTCOMES: dict[str, int] = {}  # "test/mode/exit N" -> count, for the campaign figures in README.md (Security)


def tally(test: str, mode: str, run: "Run") -> None:
    key = f"{test} {mode} exit {run.code}"
    OUTCOMES[key] = OUTCOMES.get(key, 0) + 1


def write_tally() -> None:
    path = os.environ.get("KINJECT_FUZZ_REPORT")
    if path and OUTCOMES:
        with open(path, "a", encoding="utf-8") as fh:
            for key in sorted(OUTCOMES):
                fh.write(f"{key}: {OUTCOMES[key]}\n")
        OUTCOMES.clear()


def fuzz_settings(default: int, **kw: Any) -> settings:
    """Hypothesis settings: `default` examples, or KINJECT_FUZZ_EXAMPLES when set."""
    return settings(
        max_examples=FUZZ_EXAMPLES or default,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        derandomize=not FUZZ_EXAMPLES,  # the default run is reproducible; a campaign explores
        **kw,
    )


# ------------------------------------------------------------------------------------------------ running


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float = 0.0  # peak resident memory of a subprocess run (0 in process)

    def docs(self) -> list:
        return load_all(self.stdout)


def run_inproc(args: list[str], stdin: bytes | str = b"") -> Run:
    """`kinject ARGS` in this process (fast): stdin/stdout/stderr swapped, SystemExit caught."""
    from kinject.cli import main

    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    out, err = io.BytesIO(), io.StringIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    fake_in = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    fake_out = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stdin, sys.stdout, sys.stderr = fake_in, fake_out, err
    start = time.monotonic()
    code = 0
    try:
        if args and args[0] == "inject" and all(a == "-" or a.startswith("--config=") for a in args[1:]):
            # the command itself, without building the Typer app (the CLI parsing is the e2e tests' business)
            from kinject.commands.inject import run as inject_run
            from kinject.inputs import Options

            config = next((a.split("=", 1)[1] for a in args[1:] if a.startswith("--config=")), None)
            code = inject_run(Options(files=["-"], config=config))
        else:
            main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        fake_out.flush()
        sys.stdin, sys.stdout, sys.stderr = saved
    text = out.getvalue().decode("utf-8")
    fake_out.detach()
    return Run(code, text, err.getvalue(), time.monotonic() - start)


def _confine(memory_mb: int):
    def apply() -> None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


_RSS_MARK = "\n@@kinject-test-maxrss-kb="
# `kinject ARGS` that also reports its peak memory on stderr at exit (parsed off by run_cli).
_WRAPPER = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: sys.stderr.write(%r + str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))\n"
    "from kinject.cli import main\n"
    "sys.argv[0] = 'kinject'\n"
    "main(sys.argv[1:])\n" % _RSS_MARK
)


def run_cli(args: list[str], stdin: bytes | str = b"", *, timeout: float = 60, memory_mb: int = 2048,
            cwd: str | Path | None = None, env: dict | None = None) -> Run:
    """`kinject ARGS` as a subprocess with an address-space cap: a crash (signal), a hang or a memory blow-up
    fails the test instead of taking pytest down. Also measures the peak resident memory of the run."""
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *args], input=data, capture_output=True,
                          timeout=timeout, preexec_fn=_confine(memory_mb), cwd=cwd or REPO,
                          env={**os.environ, **(env or {})})
    stderr = proc.stderr.decode("utf-8", "replace")
    rss = 0.0
    if _RSS_MARK in stderr:
        stderr, _, tail = stderr.rpartition(_RSS_MARK)
        rss = int(tail.strip() or 0) / 1024
    return Run(proc.returncode, proc.stdout.decode("utf-8", "replace"), stderr, time.monotonic() - start, rss)


def assert_clean_failure(run: Run, *needles: str) -> None:
    """Exit 1, a message on stderr, no traceback, no 'internal error', and each needle in the message."""
    assert run.code == 1, f"exit {run.code}, expected 1\nstderr: {run.stderr[:2000]}"
    assert run.stderr.strip(), "an error must say why on stderr"
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout, run.stderr[-3000:]
    assert "internal error" not in run.stderr, run.stderr[:2000]
    for needle in needles:
        assert needle in run.stderr, f"{needle!r} not in stderr: {run.stderr[:2000]}"


def assert_no_crash(run: Run) -> None:
    """Whatever the input: exit 0 or 1, never a signal, never a traceback, never exit 0 with empty output."""
    assert run.code in (0, 1), f"exit {run.code}\nstderr: {run.stderr[-3000:]}"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "internal error" not in run.stderr, run.stderr[-2000:]
    if run.code == 0:
        assert run.stdout.strip(), "exit 0 with empty output"
    else:
        assert run.stderr.strip(), "exit 1 without a message"


def resource_list(items: list, function_config: dict | None = None) -> dict:
    rl: dict = {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": items}
    if function_config is not None:
        rl["functionConfig"] = function_config
    return rl


def sidecar_injector(spec: dict | None = None) -> dict:
    return {"apiVersion": "kinject.dev/v1alpha1", "kind": "SidecarInjector", "metadata": {"name": "t"},
            "spec": spec or {}}


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=CDumper, sort_keys=False, allow_unicode=False, width=1 << 30)


def dump_all(docs: Iterable[Any]) -> str:
    return yaml.dump_all(list(docs), Dumper=CDumper, sort_keys=False, allow_unicode=False, width=1 << 30)


def load(text: str) -> Any:
    return yaml.load(text, Loader=CLoader)


def load_all(text: str) -> list:
    return [d for d in yaml.load_all(text, Loader=CLoader) if d is not None]


def walk(node: Any, path: str = ""):
    """Yield (path, key-or-None, value) for every mapping key and scalar below `node`."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k, None
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, None, node


# ------------------------------------------------------------------------------------------------ objects


def namespace(name: str = "apps", labels: dict | None = None, annotations: dict | None = None) -> dict:
    meta: dict = {"name": name}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def deployment(name: str = "web", ns: str = "apps", labels: dict | None = None, annotations: dict | None = None,
               containers: list | None = None) -> dict:
    pod_meta: dict = {"labels": {"app": "web", **(labels or {})}}
    if annotations:
        pod_meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": pod_meta,
                              "spec": {"containers": containers or [{"name": "app", "image": "nginx:1.27"}]}}},
    }


# Every pod annotation the templates and the injector read (reference §2.4), and the labels they read.
ANNOTATIONS = [
    "sidecar.istio.io/inject", "inject.istio.io/templates", "sidecar.istio.io/nativeSidecar",
    "sidecar.istio.io/interceptionMode", "sidecar.istio.io/proxyImage", "sidecar.istio.io/proxyImageType",
    "sidecar.istio.io/proxyCPU", "sidecar.istio.io/proxyMemory", "sidecar.istio.io/proxyCPULimit",
    "sidecar.istio.io/proxyMemoryLimit", "sidecar.istio.io/logLevel", "sidecar.istio.io/componentLogLevel",
    "sidecar.istio.io/agentLogLevel", "sidecar.istio.io/capNetBindService", "sidecar.istio.io/bootstrapOverride",
    "sidecar.istio.io/userVolume", "sidecar.istio.io/userVolumeMount", "sidecar.istio.io/rewriteAppHTTPProbers",
    "status.sidecar.istio.io/port", "readiness.status.sidecar.istio.io/initialDelaySeconds",
    "readiness.status.sidecar.istio.io/periodSeconds", "readiness.status.sidecar.istio.io/failureThreshold",
    "readiness.status.sidecar.istio.io/applicationPorts", "traffic.sidecar.istio.io/includeOutboundIPRanges",
    "traffic.sidecar.istio.io/excludeOutboundIPRanges", "traffic.sidecar.istio.io/includeInboundPorts",
    "traffic.sidecar.istio.io/excludeInboundPorts", "traffic.sidecar.istio.io/includeOutboundPorts",
    "traffic.sidecar.istio.io/excludeOutboundPorts", "traffic.sidecar.istio.io/excludeInterfaces",
    "istio.io/reroute-virtual-interfaces", "traffic.sidecar.istio.io/kubevirtInterfaces", "proxy.istio.io/config",
    "prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path", "prometheus.istio.io/scrape-targets",
    "prometheus.istio.io/merge-metrics", "prometheus.istio.io/secure-port",
    "kubectl.kubernetes.io/default-container", "kubectl.kubernetes.io/default-logs-container",
    "k8s.v1.cni.cncf.io/networks", "apm.datadoghq.com/env", "resource.opentelemetry.io/service.namespace",
    "resource.opentelemetry.io/service.version", "resource.opentelemetry.io/service.instance.id",
    "proxy.istio.io/overrides", "sidecar.istio.io/status", "sidecar.istio.io/statsInclusionPrefixes",
    "sidecar.istio.io/discoveryAddress",
]
LABELS = [
    "sidecar.istio.io/inject", "istio.io/rev", "security.istio.io/tlsMode", "service.istio.io/canonical-name",
    "service.istio.io/canonical-revision", "app.kubernetes.io/name", "app", "app.kubernetes.io/version",
    "version", "service.istio.io/workload-name", "topology.istio.io/network",
]

MARK = "kjx"  # every hostile value carries it, so its fate can be traced through the output
HOSTILE_VALUES = [
    f"{MARK}\n{MARK}key: injected",
    f'{MARK}"\n{MARK}key: "injected',
    f"{MARK}'\n{MARK}key: 'x",
    f"{MARK}: value",
    f"- {MARK}",
    f"{{{MARK}: 1}}",
    f"[{MARK}, 2]",
    f'"}}],"{MARK}":[{{"',
    f"{{{{ 7*7 }}}}{MARK}",
    f"{{% if true %}}{MARK}{{% endif %}}",
    f"{{{{ values }}}}{{{{ ''.__class__.__mro__ }}}}{MARK}",
    f"{{#{MARK}",
    f"# {MARK}",
    f"{MARK} # comment",
    f"---\n{MARK}: doc\n...",
    f"--- {MARK}",
    f"...\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {MARK}}}",
    f"{MARK}\x00nul\x01\x07\x1b[31mred\x7f",
    f"{MARK}\r\n{MARK}key: v",
    f"{MARK}\u2028{MARK}key: v\u0085x\u2029",
    f"&a {MARK}",
    f"*a {MARK}",
    f"!!python/object:os.system {MARK}",
    f"@{MARK}`id`$(id)${{HOME}}",
    f"|\n  {MARK}",
    f">-\n {MARK}",
    f"{MARK}\\\"\\n\\",
    f"  {MARK}  ",
    f"\ufeff{MARK}",
    f"{MARK},{MARK}:{MARK}/{MARK}",
    MARK + "A" * 100_000,
]


# ------------------------------------------------------------------------------------------------ strategies

# Kubernetes names (DNS-1123 labels) and label values, kept short so shrinking is quick.
dns_label = st.from_regex(r"\A[a-z]([a-z0-9-]{0,10}[a-z0-9])?\Z", fullmatch=True)
label_value = st.from_regex(r"\A([A-Za-z0-9]([A-Za-z0-9_.-]{0,12}[A-Za-z0-9])?)?\Z", fullmatch=True)
nonempty_label_value = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9_.-]{0,12}[A-Za-z0-9])?\Z", fullmatch=True)

# Decision inputs: the values that matter, plus noise (case variants, empty, typos).
INJECT_VALUES = ["true", "false", "", "True", "FALSE", "yes", "1", "enabled"]
REVISIONS = ["default", "canary", "stable", "unknown"]
NS_INJECTION_VALUES = ["enabled", "disabled", "", "Enabled", "true"]


@st.composite
def pod_labels(draw) -> dict:
    labels = {"app": draw(dns_label)}
    if draw(st.booleans()):
        labels["sidecar.istio.io/inject"] = draw(st.one_of(st.just("true"), st.sampled_from(INJECT_VALUES)))
    if draw(st.integers(0, 3)) == 0:
        labels["istio.io/rev"] = draw(st.sampled_from(REVISIONS))
    if draw(st.booleans()):
        labels["version"] = draw(label_value)
    for key in draw(st.lists(st.sampled_from(["security.istio.io/tlsMode", "service.istio.io/canonical-name",
                                               "app.kubernetes.io/name", "topology.istio.io/network"]),
                             max_size=2, unique=True)):
        labels[key] = draw(nonempty_label_value)
    return labels


# Annotation values that are valid (they must inject), so the properties are about the output, not errors.
VALID_ANNOTATION_VALUES: dict[str, list[str]] = {
    "sidecar.istio.io/inject": INJECT_VALUES,
    "sidecar.istio.io/interceptionMode": ["REDIRECT", "TPROXY", "NONE"],
    "sidecar.istio.io/proxyCPU": ["100m", "1", "250m"],
    "sidecar.istio.io/proxyMemory": ["128Mi", "1Gi"],
    "sidecar.istio.io/proxyCPULimit": ["2", "500m"],
    "sidecar.istio.io/proxyMemoryLimit": ["1Gi", "512Mi"],
    "sidecar.istio.io/logLevel": ["debug", "info", "warning"],
    "sidecar.istio.io/componentLogLevel": ["misc:error", "upstream:debug,connection:trace"],
    "sidecar.istio.io/agentLogLevel": ["default:debug"],
    "sidecar.istio.io/nativeSidecar": ["true", "false"],
    "sidecar.istio.io/proxyImage": ["example.com/proxyv2:1.30.3"],
    "sidecar.istio.io/proxyImageType": ["distroless", "debug"],
    "sidecar.istio.io/rewriteAppHTTPProbers": ["true", "false"],
    "status.sidecar.istio.io/port": ["15020", "15021", "0"],
    "readiness.status.sidecar.istio.io/initialDelaySeconds": ["1", "10"],
    "readiness.status.sidecar.istio.io/periodSeconds": ["2", "15"],
    "readiness.status.sidecar.istio.io/failureThreshold": ["30", "4"],
    "traffic.sidecar.istio.io/includeOutboundIPRanges": ["*", "10.0.0.0/8,172.16.0.0/12", ""],
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": ["10.96.0.1/32", "192.168.0.0/16,10.0.0.0/8"],
    "traffic.sidecar.istio.io/includeInboundPorts": ["*", "8080,9090", ""],
    "traffic.sidecar.istio.io/excludeInboundPorts": ["8081", "9000,9001"],
    "traffic.sidecar.istio.io/includeOutboundPorts": ["5432"],
    "traffic.sidecar.istio.io/excludeOutboundPorts": ["3306,6379"],
    "traffic.sidecar.istio.io/excludeInterfaces": ["eth1", "eth1,eth2"],
    "istio.io/reroute-virtual-interfaces": ["veth0"],
    "proxy.istio.io/config": ["concurrency: 2", "holdApplicationUntilProxyStarts: true",
                              '{"proxyMetadata": {"DNS_AGENT": ""}}', "terminationDrainDuration: 10s"],
    "prometheus.io/scrape": ["true", "false"],
    "prometheus.io/port": ["9090", "8080"],
    "prometheus.io/path": ["/metrics"],
    "prometheus.istio.io/merge-metrics": ["true", "false"],
    "kubectl.kubernetes.io/default-container": ["app"],
    "k8s.v1.cni.cncf.io/networks": ["macvlan-conf"],
    "sidecar.istio.io/statsInclusionPrefixes": ["cluster.outbound"],
    "example.com/unrelated": ["x", "multi\nline", "{{ not a template }}"],
}


@st.composite
def pod_annotations(draw) -> dict:
    keys = draw(st.lists(st.sampled_from(sorted(VALID_ANNOTATION_VALUES)), max_size=5, unique=True))
    return {k: draw(st.sampled_from(VALID_ANNOTATION_VALUES[k])) for k in keys}


@st.composite
def namespaces(draw) -> dict:
    labels: dict = {}
    choice = draw(st.integers(0, 9))
    if choice in (1, 4, 5, 6):
        labels["istio-injection"] = "enabled"
    elif choice == 7:
        labels["istio-injection"] = draw(st.sampled_from(NS_INJECTION_VALUES))
    elif choice in (2, 8):
        labels["istio.io/rev"] = draw(st.sampled_from(REVISIONS))
    elif choice == 3:
        labels["istio-injection"] = draw(st.sampled_from(NS_INJECTION_VALUES))
        labels["istio.io/rev"] = draw(st.sampled_from(REVISIONS))
    if draw(st.booleans()):
        labels["team"] = draw(label_value)
    return labels


NS_NAMES = ["apps", "shop", "default", "kube-system", "kube-public", "local-path-storage", "unlisted"]

WORKLOAD_KINDS = ["Deployment", "StatefulSet", "Pod", "DaemonSet", "Job", "CronJob", "ReplicaSet"]
OTHER_KINDS = ["Service", "ConfigMap", "ServiceAccount", "Secret"]


def _pod_spec(draw, containers: int, host_network: bool) -> dict:
    spec: dict = {"containers": [
        {"name": f"c{i}", "image": draw(st.sampled_from(["nginx:1.27", "example.com/app@sha256:" + "a" * 64])),
         **({"ports": [{"containerPort": 8080 + i}]} if draw(st.booleans()) else {})}
        for i in range(containers)]}
    if host_network:
        spec["hostNetwork"] = True
    return spec


@st.composite
def workload(draw, ns: str | None = None) -> dict:
    kind = draw(st.sampled_from(WORKLOAD_KINDS))
    name = draw(dns_label)
    pod_meta: dict = {"labels": draw(pod_labels())}
    annotations = draw(pod_annotations())
    if annotations:
        pod_meta["annotations"] = annotations
    spec = _pod_spec(draw, draw(st.integers(1, 3)), draw(st.integers(0, 9)) == 0)
    meta: dict = {"name": name}
    if ns is not None:
        meta["namespace"] = ns
    if kind == "Pod":
        pod_meta.update(meta)
        return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}
    api = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    template = {"metadata": pod_meta, "spec": spec}
    selector = {"matchLabels": {"app": pod_meta["labels"]["app"]}}
    if kind == "Job":
        spec["restartPolicy"] = "Never"
        return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": {"template": template}}
    if kind == "CronJob":
        spec["restartPolicy"] = "OnFailure"
        return {"apiVersion": api, "kind": kind, "metadata": meta,
                "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}}
    body: dict = {"selector": selector, "template": template}
    if kind == "StatefulSet":
        body["serviceName"] = name
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": body}


@st.composite
def other_object(draw, ns: str | None = None) -> dict:
    kind = draw(st.sampled_from(OTHER_KINDS))
    meta: dict = {"name": draw(dns_label)}
    if ns is not None:
        meta["namespace"] = ns
    if draw(st.booleans()):
        meta["labels"] = {"app": draw(dns_label), "sidecar.istio.io/inject": draw(st.sampled_from(INJECT_VALUES))}
    if draw(st.booleans()):
        meta["annotations"] = draw(pod_annotations()) or {"a": "b"}
    if kind == "Service":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta,
                "spec": {"selector": {"app": "x"}, "ports": [{"port": draw(st.integers(1, 65535))}]}}
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta,
                "data": draw(st.dictionaries(dns_label, st.text(max_size=20), max_size=3))}
    if kind == "Secret":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "stringData": {"k": draw(st.text(max_size=10))}}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


@st.composite
def bundles(draw) -> dict:
    """A bundle: Namespaces (maybe labelled), workloads and other objects spread over them."""
    ns_names = draw(st.lists(st.sampled_from(NS_NAMES), min_size=1, max_size=3, unique=True))
    ns_objects = {n: draw(namespaces()) for n in ns_names if n != "unlisted" and draw(st.integers(0, 3)) > 0}
    objects: list = [namespace(n, labels) for n, labels in ns_objects.items()]
    for _ in range(draw(st.integers(1, 4))):
        ns = draw(st.sampled_from(ns_names + [None]))
        objects.append(draw(workload(ns)))
    for _ in range(draw(st.integers(0, 3))):
        objects.append(draw(other_object(draw(st.sampled_from(ns_names + [None])))))
    order = draw(st.permutations(range(len(objects))))
    return {"objects": [objects[i] for i in order], "namespaces": ns_objects}


COMMENTS = ["# a comment", "# {{ not a template }}", "#: colon", "# ---", "#\ttab"]


@st.composite
def commented_yaml(draw, docs: list) -> str:
    """`docs` as a YAML stream with comments sprinkled between lines and after values, in random styles."""
    flow = draw(st.integers(0, 5)) == 0
    parts = []
    for doc in docs:
        text = yaml.safe_dump(doc, sort_keys=draw(st.booleans()), default_flow_style=None if flow else False,
                              width=1 << 30, indent=draw(st.sampled_from([2, 4])))
        lines = text.splitlines()
        out = []
        for line in lines:
            if draw(st.integers(0, 7)) == 0:
                indent = len(line) - len(line.lstrip(" -"))
                out.append(" " * indent + draw(st.sampled_from(COMMENTS)))
            if (draw(st.integers(0, 7)) == 0 and not line.rstrip().endswith(("|", ">", "|-", ">-"))
                    and _safe_trailing_comment(line)):
                line = line + "  " + draw(st.sampled_from(COMMENTS))
            out.append(line)
        parts.append("\n".join(out) + "\n")
    return draw(st.sampled_from(["", "---\n"])) + "---\n".join(parts)


def _safe_trailing_comment(line: str) -> bool:
    # A trailing comment is only safe after a complete plain/quoted token (not inside a multi-line scalar).
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(("'", '"')) and "'" not in line and '"' not in line and (
        ": " in stripped or stripped.startswith("- ") or stripped.endswith(":"))


def json_text(data: Any) -> str:
    return json.dumps(data)
