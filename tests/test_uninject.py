"""kinject uninject: exact with kinject's undo record, best effort for Istio-injected pods, hands off the rest.

`with_records()` does to an injected stream what the pipeline will do once `undo.embed` is wired in (see
undo.py): it stores the undo record in each status annotation. When `kinject inject` already writes records,
the CLI round trip test checks the real thing too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from test_explain import BUNDLE, INJECTED, SKIPPED, inproc, kinject

from kinject import undo
from kinject.workloads import POD_TEMPLATE_PATHS


def docs(text: str) -> list:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def template_of(doc: dict) -> dict | None:
    path = POD_TEMPLATE_PATHS.get(doc.get("kind"))
    if path is None:
        return None
    node = doc
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def set_template(doc: dict, template: dict) -> None:
    path = POD_TEMPLATE_PATHS[doc["kind"]]
    if not path:
        doc.clear()
        doc.update(template)
        return
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = template


def with_records(original: str, injected: str) -> str:
    out = []
    for before, after in zip(docs(original), docs(injected), strict=True):
        tb, ta = template_of(before), template_of(after)
        if ta is not None and undo.status_of(ta) is not None and tb != ta:
            set_template(after, undo.embed(ta, undo.record(tb, ta)))
        out.append(after)
    return yaml.safe_dump_all(out, sort_keys=False)


def inject(text: str) -> str:
    proc = kinject("inject", "-q", "-", stdin=text)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def injected() -> str:
    return inject(BUNDLE)


@pytest.fixture(scope="module")
def recorded(injected) -> str:
    return with_records(BUNDLE, injected)


def report(stderr: str) -> dict[str, str]:
    out = {}
    for line in stderr.splitlines():
        if " in namespace " in line:
            kind, name = line.split(" ")[0], line.split('"')[1]
            out[f"{kind}/{name}"] = line.split('" ', 2)[-1].split('" ', 1)[-1]
    return out


def lower(keys: set[str]) -> set[str]:
    return {k.split("/")[0].lower() + "/" + k.split("/")[1] for k in keys}


# --------------------------------------------------------------------------------------------- exact


def test_exact_uninject_of_every_workload(tmp_path, recorded):
    path = tmp_path / "shop.yaml"
    path.write_text(recorded)
    proc = kinject("uninject", str(path))
    assert proc.returncode == 0, proc.stderr
    assert docs(proc.stdout) == docs(BUNDLE)
    lines = report(proc.stderr)
    assert {k for k, v in lines.items() if v == "uninjected"} == lower(INJECTED)
    assert {k for k, v in lines.items() if v.startswith("skipped: not injected")} == lower(SKIPPED)
    assert proc.stderr.startswith("\n") and proc.stderr.endswith("\n\n")  # Linkerd's blank lines
    assert "5 uninjected (0 best effort), 5 skipped" in proc.stderr
    assert path.read_text() == recorded  # without --in-place the file is not touched


def test_in_place_then_nothing_left(tmp_path, recorded):
    path = tmp_path / "shop.yaml"
    path.write_text(recorded)
    proc = kinject("uninject", "--in-place", str(path))
    assert proc.returncode == 0 and proc.stdout == ""
    assert docs(path.read_text()) == docs(BUNDLE)
    first = path.read_text()
    again = kinject("uninject", "-i", str(path))
    assert again.returncode == 0 and path.read_text() == first
    assert "0 uninjected (0 best effort), 10 skipped" in again.stderr


def test_uninjected_bundle_injects_to_the_same_output(recorded, injected):
    back = kinject("uninject", "-", stdin=recorded).stdout
    assert docs(inject(back)) == docs(injected)


def test_edited_after_injection_keeps_the_edit(recorded):
    data = docs(recorded)
    frontend = next(d for d in data if d["kind"] == "Deployment" and d["metadata"]["name"] == "frontend")
    containers = frontend["spec"]["template"]["spec"]["containers"]
    app = next(c for c in containers if c["name"] == "frontend")
    app["image"] = "example/frontend:2.2.0"
    containers.append({"name": "log-shipper", "image": "fluent-bit:3"})
    proc = kinject("uninject", "-", stdin=yaml.safe_dump_all(data, sort_keys=False))
    assert proc.returncode == 0, proc.stderr
    assert "edited since injection" in report(proc.stderr)["deployment/frontend"]
    out = next(d for d in docs(proc.stdout) if d["kind"] == "Deployment" and d["metadata"]["name"] == "frontend")
    spec = out["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["frontend", "log-shipper"]
    assert spec["containers"][0]["image"] == "example/frontend:2.2.0"
    assert spec["containers"][0]["readinessProbe"] == {"httpGet": {"path": "/ready", "port": "http"},
                                                       "periodSeconds": 5}
    assert "initContainers" not in spec and "volumes" not in spec


def test_cli_round_trip_when_inject_writes_records(injected):
    """`kinject inject | kinject uninject` is exact once the pipeline embeds undo records."""
    if not any(undo.extract(t) for t in (template_of(d) for d in docs(injected)) if t):
        pytest.skip("kinject inject does not embed undo records yet (undo.embed not wired into the pipeline)")
    proc = kinject("uninject", "-", stdin=injected)
    assert docs(proc.stdout) == docs(BUNDLE)
    assert "best effort" not in proc.stderr.replace("(0 best effort)", "")


# --------------------------------------------------------------------------------------------- text


def test_comments_and_untouched_documents_survive(recorded, injected):
    for text in (injected, ):  # the real inject output keeps comments; uninject must too
        proc = kinject("uninject", "-", stdin=text)
        assert proc.returncode == 0, proc.stderr
        assert "# the whole namespace is in the mesh" in proc.stdout
        assert "# the app's own metrics" in proc.stdout
        assert "# opts in although its namespace does not" in proc.stdout
        before = text.split("\n---\n")
        after = proc.stdout.split("\n---\n")
        assert len(before) == len(after)
        for b, a in zip(before, after):
            kind = (yaml.safe_load(b) or {}).get("kind")
            if kind not in ("Deployment", "StatefulSet", "CronJob"):
                assert a.strip("\n") == b.strip("\n")


def test_not_injected_input_is_byte_identical():
    proc = kinject("uninject", "-", stdin=BUNDLE)
    assert proc.returncode == 0
    assert proc.stdout == BUNDLE
    assert "0 uninjected" in proc.stderr


# --------------------------------------------------------------------------------------------- Istio


def test_istio_injected_pods_best_effort(injected):
    """Without a kinject record (Istio's webhook, istioctl kube-inject): the sidecar and everything the
    templates add go; what cannot be known (a named probe port the injector resolved) stays resolved."""
    istio_style = yaml.safe_dump_all([_without_records(d) for d in docs(injected)], sort_keys=False)
    proc = kinject("uninject", "-", stdin=istio_style)
    assert proc.returncode == 0, proc.stderr
    lines = report(proc.stderr)
    assert all("best effort" in lines[k] for k in lower(INJECTED))
    out, want = docs(proc.stdout), docs(BUNDLE)
    for got, expected in zip(out, want):
        if got["metadata"]["name"] == "frontend" and got["kind"] == "Deployment":
            probe = got["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
            assert probe == {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5}
            probe["httpGet"]["port"] = "http"
        assert got == expected
    assert "istio-proxy" not in proc.stdout and "sidecar.istio.io/status" not in proc.stdout


def _without_records(doc: dict) -> dict:
    t = template_of(doc)
    if t is not None and undo.status_of(t) is not None:
        set_template(doc, undo.without_record(t))
    return doc


# --------------------------------------------------------------------------------------------- shapes


def test_resource_list_and_list_kinds(recorded):
    items = docs(recorded)
    rl = yaml.safe_dump({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList",
                         "items": [{"apiVersion": "v1", "kind": "List", "items": items[3:]}, *items[:3]]})
    code, out, err = inproc("uninject", "-", stdin=rl)
    assert code == 0, err
    result = yaml.safe_load(out)
    assert result["kind"] == "ResourceList"
    assert result["items"][0]["items"] == docs(BUNDLE)[3:]
    assert "5 uninjected (0 best effort)" in err


def test_bare_pod_with_no_metadata_maps(tmp_path):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
           "spec": {"containers": [{"name": "app", "image": "a"}]}}
    ns = docs(BUNDLE)[0]
    original = yaml.safe_dump_all([ns, pod], sort_keys=False)
    recorded = with_records(original, inject(original))
    assert "istio-proxy" in recorded
    code, out, err = inproc("uninject", "-", stdin=recorded)
    assert code == 0 and docs(out) == [ns, pod]


def test_garbage_status_is_left_alone():
    doc = yaml.safe_load(BUNDLE.split("---\n")[5])
    doc["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/status"] = "{not json"
    text = yaml.safe_dump(doc, sort_keys=False)
    code, out, err = inproc("uninject", "-", stdin=text)
    assert code == 0
    assert docs(out)[0]["spec"]["template"]["metadata"]["annotations"].get("sidecar.istio.io/status") is None
    assert json.dumps(docs(out)[0]).count("istio") < json.dumps(doc).count("istio")


def test_invalid_yaml_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: [\n")
    proc = kinject("uninject", str(path))
    assert proc.returncode == 1 and "invalid YAML" in proc.stderr and proc.stdout == ""
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------------------------- wiring contract


@pytest.fixture
def wired(monkeypatch):
    """What the pipeline does once undo is wired in (the lead's task; see the report): in `_inject_one`,
    restore the exact original of a kinject-injected pod template and inject that; then embed the undo record
    of (that original -> the new template) into the new status annotation; "unchanged" compares the file's
    template with that."""
    import dataclasses

    import kinject.inject
    from kinject import pipeline
    from kinject.model import PodTemplate
    from kinject.yamltext import same

    real_inject_pod, real_inject_one = kinject.inject.inject_pod, pipeline._inject_one

    def inject_pod(pod, workload, profile, namespace_annotations=None):
        template = {"metadata": pod.metadata, "spec": pod.spec}
        source = undo.restore(template) or template
        return real_inject_pod(PodTemplate(source.get("metadata") or {}, source.get("spec") or {}), workload,
                               profile, namespace_annotations)

    def inject_one(w, *args):
        outcome, new, old = real_inject_one(w, *args)
        if outcome.after is None:
            return outcome, new, old
        source = undo.restore(outcome.before) or outcome.before
        after = undo.embed(outcome.after, undo.record(source, outcome.after))
        status = "unchanged" if same(outcome.before, after) else "injected"
        outcome = dataclasses.replace(outcome, after=after, status=status)
        return outcome, (after if status == "injected" else None), outcome.before

    monkeypatch.setattr(kinject.inject, "inject_pod", inject_pod)
    monkeypatch.setattr(pipeline, "_inject_one", inject_one)


def test_wiring_contract(wired):
    code, injected, err = inproc("inject", "-", stdin=BUNDLE)
    assert code == 0, err
    assert all(undo.extract(template_of(d)) for d in docs(injected)
               if template_of(d) and undo.status_of(template_of(d)) is not None)
    # idempotent: re-injecting restores the original and injects it afresh, to the same bytes
    code, again, err = inproc("inject", "-", stdin=injected)
    assert again == injected and "5 injected (5 already current)" in err
    # exact uninject through the CLI
    code, back, err = inproc("uninject", "-", stdin=injected)
    assert docs(back) == docs(BUNDLE) and "5 uninjected (0 best effort)" in err
    # check/diff see current sidecars
    assert inproc("check", "-", stdin=injected)[0] == 0
    # a settings change: re-injection starts from the exact original (not from the old sidecar)
    old = injected.replace("docker.io/istio/proxyv2:", "docker.io/istio/proxyv2:old-")
    assert inproc("check", "-", stdin=old)[0] == 1
    code, fresh, err = inproc("inject", "-q", "-", stdin=old)
    assert docs(fresh) == docs(injected)
    # and uninject after that is still exact
    assert docs(inproc("uninject", "-", stdin=fresh)[1]) == docs(BUNDLE)


FIXTURES = [p for p in sorted((Path(__file__).resolve().parent.parent / "fixtures").iterdir())
            if (p / "input.yaml").exists() and not (p / "expected-error.txt").exists()]


@pytest.mark.parametrize("case", FIXTURES, ids=[p.name for p in FIXTURES])
def test_wired_uninject_is_exact_on_every_fixture(case, wired):
    import shlex

    from test_fixtures import is_resource_list

    text = (case / "input.yaml").read_text()
    if is_resource_list(text):
        code, out, err = inproc("fn", stdin=text)
        assert code == 0, err
        injected = yaml.safe_dump_all(yaml.safe_load(out)["items"], sort_keys=False)
        original = yaml.safe_load(text)["items"]
        args = []
    else:
        args = ["--config", str(case / "config.yaml")] if (case / "config.yaml").exists() else []
        if (case / "args").exists():
            args += shlex.split((case / "args").read_text())
        code, injected, err = inproc("inject", "-q", *args, "-", stdin=text)
        assert code == 0, err
        original = docs(text)
    assert "sidecar.istio.io/status" in injected
    code, back, err = inproc("uninject", "-", stdin=injected)
    assert code == 0, err
    strip = lambda ds: [_no_krm_annotations(d) for d in ds]  # noqa: E731
    assert strip(docs(back)) == strip(original)
    assert "best effort" not in err.replace("(0 best effort)", "")


def _no_krm_annotations(doc: dict) -> dict:
    """kpt/kustomize bookkeeping annotations (config.kubernetes.io/*) may be added by `fn`; ignore them."""
    meta = doc.get("metadata") or {}
    ann = {k: v for k, v in (meta.get("annotations") or {}).items() if "config.kubernetes.io/" not in k}
    if "annotations" in meta:
        doc = {**doc, "metadata": {**meta, "annotations": ann}}
        if not ann:
            del doc["metadata"]["annotations"]
    return doc


def test_kinject_over_an_istio_injected_pod_peels_one_layer_at_a_time(wired):
    """kinject re-injecting a pod Istio injected records that pod as the original: uninject gives it back
    exactly, says so, and a second uninject removes Istio's sidecar best effort."""
    istio_style = yaml.safe_dump_all([_without_records(d) for d in docs(inproc("inject", "-q", "-", stdin=BUNDLE)[1])],
                                     sort_keys=False)
    code, reinjected, err = inproc("inject", "-q", "-", stdin=istio_style)
    assert code == 0, err
    code, once, err = inproc("uninject", "-", stdin=reinjected)
    assert docs(once) == docs(istio_style)
    assert "already carried a sidecar: run uninject again" in report(err)["deployment/frontend"]
    code, twice, err = inproc("uninject", "-", stdin=once)
    assert "best effort" in report(err)["deployment/frontend"] and "istio-proxy" not in twice


def test_istioctl_kube_inject_cronjob(injected):
    """istioctl kube-inject puts a CronJob's injected labels and annotations on spec.jobTemplate.metadata."""
    cron = next(d for d in docs(injected) if d["kind"] == "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    cron["spec"]["jobTemplate"]["metadata"] = _without_records({"kind": "Pod", **pod})["metadata"]
    del pod["metadata"]
    original = next(d for d in docs(BUNDLE) if d["kind"] == "CronJob")
    code, out, err = inproc("uninject", "-", stdin=yaml.safe_dump(cron, sort_keys=False))
    assert code == 0, err
    assert "istioctl kube-inject style" in err
    assert docs(out) == [original]


def test_wired_image_bump_keeps_sidecars_current(wired):
    code, injected, err = inproc("inject", "-q", "-", stdin=BUNDLE)
    bumped = injected.replace("example/frontend:2.1.0", "example/frontend:2.2.0")
    assert bumped != injected
    code, out, err = inproc("check", "-", stdin=bumped)
    assert code == 0, out
    code, again, err = inproc("inject", "-q", "-", stdin=bumped)
    assert again == bumped
    back = docs(inproc("uninject", "-", stdin=bumped)[1])
    assert back == docs(BUNDLE.replace("example/frontend:2.1.0", "example/frontend:2.2.0"))
