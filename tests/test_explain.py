"""kinject explain: decision, reason chain, revision, templates and sidecar state per workload.

Also home of BUNDLE, the realistic bundle the operator-tool tests share (test_check, test_diff, test_uninject,
test_report import it): several Deployments, a StatefulSet, a CronJob, a Job, namespaces with and without
injection labels, a hostNetwork DaemonSet, an opted-out pod, an opted-in pod in an unlabelled namespace, a
system namespace, custom templates, a revision label and an invalid annotation (in ERROR_DOC).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugin"))
KINJECT = str(Path(sys.executable).absolute().parent / "kinject")

BUNDLE = """\
# A small shop, as a GitOps repository keeps it.
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    istio-injection: enabled # the whole namespace is in the mesh
---
apiVersion: v1
kind: Namespace
metadata:
  name: legacy
  labels:
    istio-injection: disabled
---
apiVersion: v1
kind: Namespace
metadata:
  name: monitoring # no injection label: only pods that opt in
---
apiVersion: v1
kind: Service
metadata:
  name: frontend
  namespace: shop
spec:
  selector: {app: frontend}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
  namespace: shop
  labels: {app: frontend}
spec:
  replicas: 3
  selector:
    matchLabels: {app: frontend}
  template:
    metadata:
      labels:
        app: frontend
        version: v2
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9090" # the app's own metrics
    spec:
      containers:
      - name: frontend
        image: example/frontend:2.1.0
        ports:
        - containerPort: 8080
          name: http
        readinessProbe:
          httpGet:
            path: /ready
            port: http
          periodSeconds: 5
        livenessProbe:
          tcpSocket:
            port: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
  namespace: shop
spec:
  selector:
    matchLabels: {app: cart}
  template:
    metadata:
      labels: {app: cart}
      annotations:
        inject.istio.io/templates: sidecar
        sidecar.istio.io/proxyCPU: 50m
    spec:
      containers:
      - name: cart
        image: example/cart:1.4.2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: batch-admin
  namespace: shop
spec:
  selector:
    matchLabels: {app: batch-admin}
  template:
    metadata:
      labels:
        app: batch-admin
        sidecar.istio.io/inject: "false" # talks to the node directly, stays out of the mesh
    spec:
      containers:
      - name: admin
        image: example/admin:0.9
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: redis
  namespace: shop
spec:
  serviceName: redis
  selector:
    matchLabels: {app: redis}
  template:
    metadata:
      labels: {app: redis}
    spec:
      containers:
      - name: redis
        image: redis:7.2
        volumeMounts:
        - name: data
          mountPath: /data
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly-report
  namespace: shop
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: example/report:1.0
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-exporter
  namespace: shop
spec:
  selector:
    matchLabels: {app: node-exporter}
  template:
    metadata:
      labels: {app: node-exporter}
    spec:
      hostNetwork: true
      containers:
      - name: node-exporter
        image: prom/node-exporter:v1.8.0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: old-billing
  namespace: legacy
spec:
  selector:
    matchLabels: {app: old-billing}
  template:
    metadata:
      labels: {app: old-billing}
    spec:
      containers:
      - name: billing
        image: example/billing:0.1
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: grafana
  namespace: monitoring
spec:
  selector:
    matchLabels: {app: grafana}
  template:
    metadata:
      labels:
        app: grafana
        sidecar.istio.io/inject: "true" # opts in although its namespace does not
    spec:
      containers:
      - name: grafana
        image: grafana/grafana:11.0.0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: prometheus
  namespace: monitoring
spec:
  selector:
    matchLabels: {app: prometheus}
  template:
    metadata:
      labels: {app: prometheus}
    spec:
      containers:
      - name: prometheus
        image: prom/prometheus:v2.53.0
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: kube-system
spec:
  template:
    metadata:
      labels:
        sidecar.istio.io/inject: "true"
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: example/migrate:1.0
"""

ERROR_DOC = """\
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
  namespace: shop
spec:
  selector:
    matchLabels: {app: broken}
  template:
    metadata:
      labels: {app: broken}
      annotations:
        sidecar.istio.io/proxyCPU: "lots"
    spec:
      containers:
      - name: broken
        image: example/broken:1
"""

INJECTED = {"Deployment/frontend", "Deployment/cart", "StatefulSet/redis", "CronJob/nightly-report",
            "Deployment/grafana"}
SKIPPED = {"Deployment/batch-admin", "DaemonSet/node-exporter", "Deployment/old-billing", "Deployment/prometheus",
           "Job/migrate"}


def kinject(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real `kinject` console script, as a user runs it."""
    return subprocess.run([KINJECT, *args], input=stdin, capture_output=True, text=True, timeout=120,
                          cwd=cwd or ROOT)


def inproc(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """`kinject ARGS` in this process: (exit code, stdout, stderr)."""
    from kinject.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def bundle_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(BUNDLE)
    return path


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {f"{r['kind']}/{r['name']}": r for r in rows}


# --------------------------------------------------------------------------------------------- json


def test_json_decisions_for_every_workload(bundle_file):
    proc = kinject("explain", "-o", "json", str(bundle_file))
    assert proc.returncode == 0, proc.stderr
    rows = by_name(json.loads(proc.stdout))
    assert set(rows) == INJECTED | SKIPPED
    for key in INJECTED:
        assert rows[key]["decision"] == "inject", rows[key]
        assert rows[key]["revision"] == "default"
        assert rows[key]["templates"] == ["sidecar"]
        assert rows[key]["sidecar"] == "absent"
    for key in SKIPPED:
        assert rows[key]["decision"] == "skip", rows[key]
        assert rows[key]["revision"] is None and rows[key]["templates"] == []
    for row in rows.values():
        assert {"kind", "namespace", "name", "decision", "reason", "reasons"} <= row.keys()
        assert row["reason"] == "; ".join(row["reasons"])
        assert row["file"] == {"path": str(bundle_file)}


def test_reason_chains_follow_evaluation_order(bundle_file):
    rows = by_name(json.loads(kinject("explain", "-o", "json", str(bundle_file)).stdout))
    assert rows["Deployment/frontend"]["reasons"] == ["namespace 'shop' has istio-injection=enabled",
                                                      "policy enabled injects by default"]
    assert rows["Deployment/batch-admin"]["reasons"][-1] == "pod label sidecar.istio.io/inject=false"
    assert rows["DaemonSet/node-exporter"]["reasons"][-1] == "the pod uses hostNetwork"
    assert "istio-injection='disabled'" in rows["Deployment/old-billing"]["reason"]
    grafana = rows["Deployment/grafana"]["reasons"]
    assert grafana[0].startswith("namespace 'monitoring' has no istio-injection")
    assert grafana[1] == "pod label sidecar.istio.io/inject=true"
    assert rows["Deployment/prometheus"]["reasons"][-1] == "the pod does not opt in"
    migrate = rows["Job/migrate"]["reasons"]
    assert "no Namespace object in the input" in migrate[0]  # kube-system is not in the bundle
    assert migrate[-1].endswith("system namespace Istio never injects")


def test_namespace_flags_and_revision_label(tmp_path):
    doc = BUNDLE.split("---\n")[5].replace("  namespace: shop\n", "")  # cart, without a namespace
    path = tmp_path / "cart.yaml"
    path.write_text(doc)
    rows = json.loads(kinject("explain", "-o", "json", "-n", "team-a", str(path)).stdout)
    assert rows[0]["namespace"] == "team-a" and rows[0]["decision"] == "skip"
    rows = json.loads(kinject("explain", "-o", "json", "-n", "team-a", "--namespace-labels",
                              "istio-injection=enabled", str(path)).stdout)
    assert rows[0]["decision"] == "inject"
    assert "labels from --namespace-labels" in rows[0]["reasons"][0]
    rows = json.loads(kinject("explain", "-o", "json", "-n", "team-a", "--namespace-labels",
                              "istio.io/rev=canary", str(path)).stdout)
    assert rows[0]["decision"] == "skip" and "revision 'canary' is not configured" in rows[0]["reason"]


def test_templates_come_from_the_annotation(tmp_path):
    doc = BUNDLE.split("---\n")[5].replace("inject.istio.io/templates: sidecar",
                                            "inject.istio.io/templates: sidecar,spire")
    path = tmp_path / "cart.yaml"
    path.write_text(BUNDLE.split("---\n")[0] + "---\n" + doc)
    code, out, err = inproc("explain", "-o", "json", str(path))
    rows = json.loads(out)
    assert rows[0]["templates"] == ["sidecar", "spire"]
    assert rows[0]["decision"] == "error" and code == 1  # no template named spire: said, not hidden
    assert "spire" in rows[0]["reason"]


def test_error_workloads_exit_1_and_say_why(bundle_file):
    bundle_file.write_text(BUNDLE + ERROR_DOC)
    proc = kinject("explain", "-o", "json", str(bundle_file))
    assert proc.returncode == 1
    rows = by_name(json.loads(proc.stdout))
    assert rows["Deployment/broken"]["decision"] == "error"
    assert "proxyCPU" in rows["Deployment/broken"]["reason"]
    assert rows["Deployment/frontend"]["decision"] == "inject"  # the others are still explained


def test_sidecar_state_current_and_stale(bundle_file):
    injected = kinject("inject", "-q", str(bundle_file))
    assert injected.returncode == 0, injected.stderr
    rows = by_name(json.loads(kinject("explain", "-o", "json", "-", stdin=injected.stdout).stdout))
    assert {k for k, r in rows.items() if r["sidecar"] == "current"} == INJECTED
    stale = injected.stdout.replace("proxyv2:", "proxyv2-old:")
    rows = by_name(json.loads(kinject("explain", "-o", "json", "-", stdin=stale).stdout))
    assert {k for k, r in rows.items() if r["sidecar"] == "stale"} == INJECTED


def test_resource_list_input_and_stdin():
    import yaml

    items = [d for d in yaml.safe_load_all(BUNDLE)]
    rl = yaml.safe_dump({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": items})
    code, out, err = inproc("explain", "-o", "json", "-", stdin=rl)
    assert code == 0, err
    assert set(by_name(json.loads(out))) == INJECTED | SKIPPED


def test_explain_changes_nothing(bundle_file):
    kinject("explain", str(bundle_file))
    assert bundle_file.read_text() == BUNDLE


# --------------------------------------------------------------------------------------------- table


def test_table_for_people(bundle_file):
    proc = kinject("explain", str(bundle_file))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["WORKLOAD", "DECISION", "REVISION", "TEMPLATES", "SIDECAR", "WHY"]
    frontend = next(line for line in lines if "Deployment shop/frontend" in line)
    assert frontend.split()[3:6] == ["default", "sidecar", "absent"] and " inject " in frontend
    exporter = next(i for i, line in enumerate(lines) if "DaemonSet shop/node-exporter" in line)
    assert "skip" in lines[exporter] and "→ the pod uses hostNetwork" in lines[exporter + 1]
    assert lines[-1] == "5 to inject, 5 skipped, 0 errors"
    assert all(line == line.rstrip() for line in lines)  # no padding in pipes and files
    assert "\x1b[" not in proc.stdout  # no colour codes when stdout is not a terminal
    assert proc.stderr == ""


def test_bad_output_format(bundle_file):
    proc = kinject("explain", "-o", "yaml", str(bundle_file))
    assert proc.returncode == 2 and "--output must be one of table, json" in proc.stderr
    assert proc.stdout == ""


def test_missing_file_is_one_clear_line(tmp_path):
    proc = kinject("explain", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 1 and "cannot read" in proc.stderr and "Traceback" not in proc.stderr


def test_skipped_workload_that_carries_a_sidecar(bundle_file):
    injected = kinject("inject", "-q", str(bundle_file)).stdout
    opted_out = injected.replace("        version: v2\n", "        version: v2\n        sidecar.istio.io/inject: \"false\"\n", 1)
    assert opted_out != injected
    rows = by_name(json.loads(kinject("explain", "-o", "json", "-", stdin=opted_out).stdout))
    assert rows["Deployment/frontend"]["decision"] == "skip"
    assert rows["Deployment/frontend"]["sidecar"] == "present"


def test_large_tables_use_the_plain_renderer_with_the_same_layout(bundle_file, monkeypatch):
    from kinject.commands import explain

    rich = inproc("explain", str(bundle_file))[1].splitlines()
    monkeypatch.setattr(explain, "RICH_MAX_ROWS", 0)
    code, out, err = inproc("explain", str(bundle_file))
    plain = out.splitlines()
    assert code == 0
    assert plain[0] == rich[0]  # same header and gutters
    assert plain[-1] == rich[-1] == "5 to inject, 5 skipped, 0 errors"
    first = lambda lines: [l.split()[:6] for l in lines if l and not l.startswith(" ")]  # noqa: E731,E741
    assert first(plain) == first(rich)  # same rows, same cells (the reason column may wrap differently)
    joined = lambda lines: " ".join(" ".join(lines).split())  # noqa: E731
    assert "→ the pod uses hostNetwork" in joined(plain)
    assert all(len(line) <= 132 for line in plain) and all(line == line.rstrip() for line in plain)
