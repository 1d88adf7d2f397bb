"""Harness for the Istio conformance corpus (../shared/conformance/istio, see its README.md).

For each case: build a ResourceList (input documents + one labelled Namespace per used namespace) with a
SidecarInjector function config (corpus defaults deep-merged with the case settings, plus kinject's Jinja2
ports of custom templates), run it through `kinject.krm.process`, and compare the items with the golden after
the README's normalisation, applied to both sides.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "conformance" / "istio"
TEMPLATES_DIR = REPO / "fixtures" / "conformance-templates"
WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob", "Pod",
                  "ReplicationController", "DeploymentConfig"}
HARNESS_ONLY_KEYS = ("iop", "env")


@dataclass
class Case:
    id: str
    input: str
    golden: str | None
    expect_error: str | None
    settings: dict
    needs: list[str]
    quirks: list[str]
    exercises: str = ""

    @property
    def default(self) -> bool:
        return not self.needs


@dataclass
class CaseResult:
    case: Case
    passed: bool
    difference: str = ""
    warnings: list[str] = field(default_factory=list)


def corpus_available() -> bool:
    return (CORPUS / "cases.yaml").is_file()


def load_cases() -> tuple[dict, list[Case]]:
    manifest = yaml.safe_load((CORPUS / "cases.yaml").read_text())
    cases = [Case(c["id"], c["input"], c.get("golden"), c.get("expectError"), c.get("settings") or {},
                  list(c.get("needs") or []), list(c.get("quirks") or []), c.get("exercises", ""))
             for c in manifest["cases"]]
    return manifest.get("defaults") or {}, cases


# ----------------------------------------------------------------------------------------- building the input

def deep_merge(base: dict, overlay: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def custom_template_names(case: Case) -> list[str]:
    iop = case.settings.get("iop")
    if not iop or "custom-go-template" not in case.needs:
        return []
    doc = yaml.safe_load((CORPUS / iop).read_text()) if (CORPUS / iop).is_file() else {}
    templates = (((doc or {}).get("spec") or {}).get("values") or {}).get("sidecarInjectorWebhook", {}).get("templates")
    return sorted(templates or {})


def function_config(defaults: dict, case: Case) -> dict:
    settings = {k: v for k, v in case.settings.items() if k not in HARNESS_ONLY_KEYS}
    spec = deep_merge(defaults, settings)
    platform = spec.get("platform")
    if isinstance(platform, dict):
        platform = {k: v for k, v in platform.items() if k != "namespaceAnnotations"}
        if platform:
            spec["platform"] = platform
        else:
            spec.pop("platform")
    names = custom_template_names(case)
    if names:
        spec["templates"] = {name: (TEMPLATES_DIR / f"{name}.yaml.j2").read_text() for name in names}
    return {"apiVersion": "kinject.dev/v1alpha1", "kind": "SidecarInjector", "spec": spec}


def _workload_namespaces(docs: list) -> list[str]:
    found: list[str] = []
    for doc in docs:
        items = doc.get("items") if doc.get("kind") == "List" else [doc]
        for item in items or []:
            if isinstance(item, dict) and item.get("kind") in WORKLOAD_KINDS:
                ns = (item.get("metadata") or {}).get("namespace") or "default"
                if ns not in found:
                    found.append(ns)
    return found


def resource_list(defaults: dict, case: Case) -> tuple[str, set[str]]:
    docs = [d for d in yaml.safe_load_all((CORPUS / case.input).read_text()) if d]
    annotations = (case.settings.get("platform") or {}).get("namespaceAnnotations") or {}
    namespaces = _workload_namespaces(docs)
    ns_items = []
    for name in namespaces:
        metadata: dict = {"name": name, "labels": {"istio-injection": "enabled"}}
        if annotations:
            metadata["annotations"] = dict(annotations)
        ns_items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata})
    rl = {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": docs + ns_items,
          "functionConfig": function_config(defaults, case)}
    return yaml.safe_dump(rl, sort_keys=False), set(namespaces)


# ----------------------------------------------------------------------------------------------- normalisation

_BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_DECIMAL = {"m": Decimal("1e-3"), "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"),
            "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18"), "n": Decimal("1e-9"),
            "u": Decimal("1e-6")}
_QTY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)([A-Za-z]*)$")


def quantity(value: Any) -> Any:
    text = str(value).strip()
    match = _QTY.match(text)
    if not match:
        return ("unparsed-quantity", text)
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix in _BINARY:
        number *= _BINARY[suffix]
    elif suffix in _DECIMAL:
        number *= _DECIMAL[suffix]
    elif suffix:
        return ("unparsed-quantity", text)
    return ("quantity", str(number.normalize()))


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$")
_DURATION_SCALE = {"ns": Decimal("1e-9"), "us": Decimal("1e-6"), "ms": Decimal("1e-3"), "s": 1, "m": 60, "h": 3600}


def _durations(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _durations(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_durations(v) for v in value]
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return ("duration", str((Decimal(match.group(1)) * _DURATION_SCALE[match.group(2)]).normalize()))
    return value


def _drop_creation_timestamp(node: Any) -> None:
    if isinstance(node, dict):
        if "creationTimestamp" in node and node["creationTimestamp"] is None:
            del node["creationTimestamp"]
        for value in node.values():
            _drop_creation_timestamp(value)
    elif isinstance(node, list):
        for value in node:
            _drop_creation_timestamp(value)


def _drop_false_zero(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_false_zero(v) for k, v in node.items() if v is not False and not (type(v) is int and v == 0)}
    if isinstance(node, list):
        return [_drop_false_zero(v) for v in node]
    return node


def _json(text: Any) -> Any:
    try:
        return ("json", json.loads(text))
    except (TypeError, ValueError):
        return ("not-json", text)


def _multiset(values: Any) -> list:
    return sorted(str(v) for v in values or [])


def normalise_status(text: str) -> Any:
    parsed = _json(text)
    if parsed[0] != "json" or not isinstance(parsed[1], dict):
        return parsed
    # The corpus README compares exactly these: the four name lists as multisets, and the revision. Other keys
    # are not Istio's to check (an old "version"; kinject's own undo record under "kinject", which Istio's
    # webhook ignores like any unknown status field).
    status = {key: _multiset(parsed[1].get(key)) for key in ("initContainers", "containers", "volumes",
                                                              "imagePullSecrets")}
    status["revision"] = parsed[1].get("revision")
    return ("status", status)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (dict, list, str)) and not value)


def _drop_empty(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _drop_empty(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if not _is_empty(v) or k == "emptyDir"}
    if isinstance(node, list):
        return [_drop_empty(v) for v in node]
    return node


def normalise_overrides(text: str) -> Any:
    parsed = _json(text)
    if parsed[0] != "json" or not isinstance(parsed[1], dict):
        return parsed
    out = {}
    for key in ("containers", "initContainers"):
        containers = [_drop_empty(c) for c in parsed[1].get(key) or []]
        if containers:
            out[key] = {c.get("name"): normalise_container(c) for c in containers}
    return ("overrides", out)


def normalise_networks(text: str) -> Any:
    if text.strip().startswith("["):
        return _json(text)
    return ("list", [p.strip() for p in text.split(",")])


def normalise_annotations(annotations: dict) -> dict:
    out = {}
    for key, value in annotations.items():
        if key == "sidecar.istio.io/status":
            value = normalise_status(value)
        elif key == "proxy.istio.io/overrides":
            value = normalise_overrides(value)
        elif key == "k8s.v1.cni.cncf.io/networks":
            value = normalise_networks(value)
        out[key] = value
    return out


_JSON_ENV = {"ISTIO_META_POD_PORTS", "ISTIO_KUBE_APP_PROBERS", "ISTIO_PROMETHEUS_ANNOTATIONS"}


def normalise_env(env: list) -> dict:
    names = [e.get("name") for e in env]
    entries = {}
    for entry in env:
        entry = copy.deepcopy(entry)
        name = entry.get("name")
        if "valueFrom" not in entry:
            entry.setdefault("value", "")
        value = entry.get("value")
        if name == "PROXY_CONFIG" and isinstance(value, str):
            parsed = _json(value.rstrip("\n"))
            entry["value"] = (parsed[0], _durations(parsed[1]))
        elif (name in _JSON_ENV or str(name).startswith("ISTIO_METAJSON_")) and isinstance(value, str):
            entry["value"] = _json(value)
        source = entry.get("valueFrom")
        if isinstance(source, dict):
            if isinstance(source.get("fieldRef"), dict):
                source["fieldRef"].pop("apiVersion", None)
            ref = source.get("resourceFieldRef")
            if isinstance(ref, dict) and "divisor" in ref:
                ref["divisor"] = quantity(ref["divisor"])
        entries[name] = entry
    return {"names": names, "unique": len(set(names)) == len(names), "entries": entries}


def normalise_resources(resources: dict) -> dict:
    out = dict(resources)
    for section in ("limits", "requests"):
        if isinstance(out.get(section), dict):
            out[section] = {k: quantity(v) for k, v in out[section].items()}
    return out


def normalise_container(container: dict) -> dict:
    c = copy.deepcopy(container)
    if c.get("resources") == {}:
        del c["resources"]
    if isinstance(c.get("resources"), dict):
        c["resources"] = normalise_resources(c["resources"])
    if isinstance(c.get("env"), list):
        c["env"] = normalise_env(c["env"])
    if isinstance(c.get("ports"), list):
        c["ports"] = {f"{p.get('containerPort')}/{p.get('protocol') or 'TCP'}": p for p in c["ports"]}
    if isinstance(c.get("volumeMounts"), list):
        c["volumeMounts"] = {m.get("mountPath"): m for m in c["volumeMounts"]}
    caps = (c.get("securityContext") or {}).get("capabilities")
    if isinstance(caps, dict):
        for key in ("add", "drop"):
            if isinstance(caps.get(key), list):
                caps[key] = sorted(set(caps[key]))
    return c


def normalise_volume(volume: dict) -> dict:
    v = copy.deepcopy(volume)
    if set(v) == {"name"}:
        v["emptyDir"] = {}
    if isinstance(v.get("emptyDir"), dict) and "sizeLimit" in v["emptyDir"]:
        v["emptyDir"]["sizeLimit"] = quantity(v["emptyDir"]["sizeLimit"])
    if isinstance(v.get("downwardAPI"), dict) and isinstance(v["downwardAPI"].get("items"), list):
        v["downwardAPI"]["items"] = {i.get("path"): i for i in v["downwardAPI"]["items"]}
    return v


def normalise_pod_spec(spec: dict) -> dict:
    s = copy.deepcopy(spec)
    for key in ("containers", "initContainers"):
        if key in s:
            containers = s[key] or []
            if key == "containers" and not containers:
                del s[key]
                continue
            s[key] = [(c.get("name"), normalise_container(c)) for c in containers]
    if isinstance(s.get("volumes"), list):
        s["volumes"] = {v.get("name"): normalise_volume(v) for v in s["volumes"]}
    if isinstance(s.get("imagePullSecrets"), list):
        s["imagePullSecrets"] = {p.get("name"): p for p in s["imagePullSecrets"]}
    return s


def normalise_pod_metadata(metadata: dict) -> dict:
    m = copy.deepcopy(metadata)
    for key in ("labels", "annotations"):
        if key in m and not m[key]:
            del m[key]
    if "annotations" in m:
        m["annotations"] = normalise_annotations(m["annotations"])
    return m


def template_path(obj: dict) -> tuple | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return ()
    if kind == "CronJob":
        return ("spec", "jobTemplate", "spec", "template")
    if kind in WORKLOAD_KINDS:
        return ("spec", "template")
    return None


def _get(obj: dict, path: tuple) -> Any:
    for step in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(step)
    return obj


def normalise_object(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    obj = copy.deepcopy(obj)
    _drop_creation_timestamp(obj)
    if obj.get("kind") == "List":
        out = {k: v for k, v in obj.items() if k != "items"}
        if out.get("metadata") == {}:
            del out["metadata"]
        out["items"] = [normalise_object(i) for i in obj.get("items") or []]
        return out
    path = template_path(obj)
    template = None
    if path == ():
        template = {"metadata": obj.pop("metadata", {}) or {}, "spec": obj.pop("spec", {}) or {}}
    elif path is not None:
        parent = _get(obj, path[:-1])
        if isinstance(parent, dict) and isinstance(parent.get(path[-1]), dict):
            template = parent.pop(path[-1])
    outer = _drop_false_zero(obj)
    if outer.get("status") == {}:
        del outer["status"]
    spec = outer.get("spec")
    if isinstance(spec, dict):
        for key in ("strategy", "updateStrategy"):
            if isinstance(spec.get(key), dict) and spec[key].get("resources") == {}:
                del spec[key]["resources"]
            if spec.get(key) == {}:
                del spec[key]
        job = spec.get("jobTemplate")
        if isinstance(job, dict) and job.get("metadata") == {}:
            del job["metadata"]
    for meta in (outer.get("metadata"), _get(outer, ("spec", "jobTemplate", "metadata"))):
        if isinstance(meta, dict):
            for key in ("labels", "annotations"):
                if key in meta and not meta[key]:
                    del meta[key]
    if isinstance(_get(outer, ("spec", "jobTemplate")), dict) and _get(outer, ("spec", "jobTemplate", "metadata")) == {}:
        del outer["spec"]["jobTemplate"]["metadata"]
    if template is not None:
        tmpl = {}
        metadata = normalise_pod_metadata(template.get("metadata") or {})
        if metadata:
            tmpl["metadata"] = metadata
        tmpl["spec"] = normalise_pod_spec(template.get("spec") or {})
        for key, value in template.items():
            if key not in ("metadata", "spec"):
                tmpl[key] = value
        if path == ():
            outer.update(tmpl)
        else:
            parent = outer
            for step in path[:-1]:
                parent = parent.setdefault(step, {})
            parent[path[-1]] = tmpl
    return outer


# ------------------------------------------------------------------------------------------------------ quirks

def apply_quirks(case: Case, golden: list, inputs: list) -> list:
    golden = copy.deepcopy(golden)
    if "cronjob-metadata-on-jobTemplate" in case.quirks:
        for doc, original in zip(golden, inputs):
            if doc.get("kind") != "CronJob":
                continue
            job = doc["spec"]["jobTemplate"]
            original_meta = ((original.get("spec") or {}).get("jobTemplate") or {}).get("metadata") or {}
            job_meta = job.get("metadata") or {}
            pod_meta = job["spec"]["template"].setdefault("metadata", {})
            for key in ("labels", "annotations"):
                for name, value in list((job_meta.get(key) or {}).items()):
                    if name not in (original_meta.get(key) or {}):
                        pod_meta.setdefault(key, {})[name] = value
                        del job_meta[key][name]
                if key in job_meta and not job_meta[key]:
                    del job_meta[key]
            if not job_meta:
                job.pop("metadata", None)
    if "spire-duplicate-proxy" in case.quirks:
        for doc in golden:
            template = _get(doc, ("spec", "template"))
            if not template:
                continue
            spec = template["spec"]
            extra = next((c for c in spec.get("containers") or [] if c.get("name") == "istio-proxy" and not c.get("image")), None)
            native = next((c for c in spec.get("initContainers") or [] if c.get("name") == "istio-proxy"), None)
            if extra is None or native is None:
                continue
            spec["containers"] = [c for c in spec["containers"] if c is not extra]
            mounts = {m["mountPath"]: m for m in native.get("volumeMounts") or []}
            for mount in extra.get("volumeMounts") or []:
                mounts.setdefault(mount["mountPath"], {}).update(mount)
            native["volumeMounts"] = list(mounts.values())
            annotations = template["metadata"]["annotations"]
            status = json.loads(annotations["sidecar.istio.io/status"])
            status["containers"] = [c for c in status.get("containers") or [] if c != "istio-proxy"] or None
            annotations["sidecar.istio.io/status"] = json.dumps(status, separators=(",", ":"))
    return golden


# ------------------------------------------------------------------------------------------------- comparison

def first_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in list(expected) + [k for k in actual if k not in expected]:
            if key not in actual:
                return f"{path}.{key}: missing (expected {_short(expected[key])})"
            if key not in expected:
                return f"{path}.{key}: unexpected {_short(actual[key])}"
            diff = first_difference(expected[key], actual[key], f"{path}.{key}")
            if diff:
                return diff
        return None
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)) and type(expected) is type(actual):
        for i, (e, a) in enumerate(zip(expected, actual)):
            diff = first_difference(e, a, f"{path}[{i}]")
            if diff:
                return diff
        if len(expected) != len(actual):
            return f"{path}: expected {len(expected)} items, got {len(actual)}: {_short(actual)} vs {_short(expected)}"
        return None
    if expected != actual or type(expected) is not type(actual):
        return f"{path}: expected {_short(expected)}, got {_short(actual)}"
    return None


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) < 160 else text[:157] + "..."


def _without_status(obj: Any) -> Any:
    obj = copy.deepcopy(obj)
    path = template_path(obj) if isinstance(obj, dict) else None
    template = obj if path == () else _get(obj, path) if path else None
    if isinstance(template, dict):
        (template.get("metadata") or {}).get("annotations", {}).pop("sidecar.istio.io/status", None)
    return obj


def run_case(defaults: dict, case: Case) -> CaseResult:
    from kinject.krm import process

    text, added_namespaces = resource_list(defaults, case)
    output, code = process(text)
    parsed = yaml.safe_load(output) if output else None
    results = (parsed or {}).get("results") or []
    if case.expect_error:
        errors = [r.get("message", "") for r in results if r.get("severity") == "error"]
        if code == 0:
            return CaseResult(case, False, f"expected an error containing {case.expect_error!r}, got exit 0")
        if not any(case.expect_error in m.lower() for m in errors):
            return CaseResult(case, False, f"error does not mention {case.expect_error!r}: {errors}")
        return CaseResult(case, True)
    if code != 0 or parsed is None:
        errors = [r.get("message") for r in results if r.get("severity") == "error"]
        return CaseResult(case, False, f"exit code {code}: {errors or output[:300]}")
    items = [i for i in parsed.get("items") or []
             if not (i.get("kind") == "Namespace" and (i.get("metadata") or {}).get("name") in added_namespaces)]
    inputs = [d for d in yaml.safe_load_all((CORPUS / case.input).read_text()) if d]
    golden = [d for d in yaml.safe_load_all((CORPUS / case.golden).read_text()) if d]
    golden = apply_quirks(case, golden, inputs)
    expected = [normalise_object(d) for d in golden]
    actual = [normalise_object(d) for d in items]
    warnings = [r.get("message") for r in results if r.get("severity") == "warning"]
    if "webhook-only" in case.needs:
        # Upstream only compared the pod (webhook path, status annotation removed): other differences warn.
        strict_expected = [_template_only(_without_status(d)) for d in expected]
        strict_actual = [_template_only(_without_status(d)) for d in actual]
        diff = first_difference(strict_expected, strict_actual, "items")
        if diff:
            return CaseResult(case, False, diff, warnings)
        loose = first_difference(expected, actual, "items")
        return CaseResult(case, True, f"warning (webhook-only golden): {loose}" if loose else "", warnings)
    diff = first_difference(expected, actual, "items")
    return CaseResult(case, diff is None, diff or "", warnings)


def _template_only(obj: Any) -> Any:
    path = template_path(obj) if isinstance(obj, dict) else None
    if path == ():
        return {"metadata": obj.get("metadata"), "spec": obj.get("spec")}
    if path:
        return _get(obj, path)
    return obj


def summary_table(results: list[CaseResult]) -> str:
    width = max(len(r.case.id) for r in results)
    lines = [f"{'case':<{width}}  result  first difference"]
    for r in results:
        lines.append(f"{r.case.id:<{width}}  {'pass' if r.passed else 'FAIL':<6}  {r.difference[:200]}")
    default = [r for r in results if r.case.default]
    lines.append(f"conformance: {sum(r.passed for r in default)}/{len(default)} default cases pass")
    lines.append(f"conformance: {sum(r.passed for r in results)}/{len(results)} pass")
    return "\n".join(lines)
