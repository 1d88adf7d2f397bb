"""Exact undo of an injection: what `kinject uninject` (and re-injection) use to get the user's pod back.

The `sidecar.istio.io/status` annotation names the containers, init containers, volumes and image pull secrets
the templates added; those are removed by name (`strip`). Everything else injection did (labels, annotations,
maps it had to create, rewritten probes, a user's `istio-proxy` it merged over, ...) is recorded by kinject as
a reverse patch from the stripped pod back to the original, stored in the status JSON under `"kinject"`:

    {"v": 1, "h": "<hash of the stripped injected pod>", "p": <patch>}

A patch is a small JSON tree that only describes differences:

    dict patch  {"s": {key: literal}, "d": [keys to delete], "p": {key: patch}, "e": 1}
                ("e": drop this map from its parent when it ends up empty: a map injection had to create)
                or {"r": literal}: the whole value (only when the above cannot say it exactly)
    list patch  {"l": [op, ...], "x": [names of elements injection added], "i": 1 (keys are indexes)}
                op = key            the current element with that key, unchanged
                   | [key, patch]   that element, patched
                   | {"=": literal}  an element injection removed or replaced
                key = the element's `name` when every element has a unique one, else its index
    literal     any JSON value, or {"y": "<YAML text>"} for what JSON cannot carry exactly (dates, int keys)

`restore` applies the patch to the stripped pod. On an untouched injected pod the result is exactly the
original (`record` verifies this before returning, and falls back to recording the whole original). On a pod
edited after injection, the patch still applies where it can: elements matched by name, edits elsewhere kept;
`edited()` tells the two cases apart (the hash).

Pods injected by Istio's webhook carry no record: `istio_uninject` is the best-effort inverse of reference §5.
All functions here are pure: they never modify their arguments.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import yaml

from .digest import sha256_hex
from .post.overrides import OVERRIDES_ANNOTATION as OVERRIDES
from .post.overrides import PROXY, VALIDATION
from .post.status import STATUS_ANNOTATION as STATUS
from .post.status import parse_status_text
from .yamltext import same

RECORD_KEY = "kinject"
VERSION = 1
_LISTS = (("initContainers", "containers"), ("containers", "containers"), ("volumes", "volumes"),
          ("imagePullSecrets", "imagePullSecrets"))
_CONTAINER_KEYS = ("containers", "initContainers")


# --------------------------------------------------------------------------------------------- status


def status_of(template: dict) -> dict | None:
    """The parsed status annotation of a pod template; None when absent, {} when it is not a JSON object."""
    annotations = _annotations(template)
    text = annotations.get(STATUS) if isinstance(annotations, dict) else None
    if not isinstance(text, str):
        return None
    return parse_status_text(text)


def extract(template: dict) -> dict | None:
    """kinject's undo record from the status annotation; None when there is none (or it is unusable)."""
    status = status_of(template)
    record = (status or {}).get(RECORD_KEY)
    if not isinstance(record, dict) or record.get("v") != VERSION or not isinstance(record.get("p"), dict):
        return None
    return record


def embed(injected_template: dict, record: dict) -> dict:
    """A copy of the injected template whose status annotation also carries `record` (under "kinject")."""
    status = status_of(injected_template)
    if status is None:
        raise ValueError(f"the template has no {STATUS} annotation to embed the undo record in")
    out = dict(injected_template)  # only metadata.annotations changes: copy that path, share the rest
    out["metadata"] = dict(out["metadata"])
    out["metadata"]["annotations"] = dict(out["metadata"]["annotations"])
    status = {k: v for k, v in status.items() if k != RECORD_KEY}
    # Istio's part keeps Istio's key order; the record is canonical (sorted keys), so that the same pod written
    # with another key order (a re-serialising tool, sorted YAML) gets the very same annotation.
    istio_part = json.dumps(status, separators=(",", ":"), ensure_ascii=False)
    record_part = json.dumps(record, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    out["metadata"]["annotations"][STATUS] = f'{istio_part[:-1]},"{RECORD_KEY}":{record_part}}}'
    return out


def without_record(template: dict) -> dict:
    """A copy with the "kinject" key removed from the status annotation (what Istio itself would write)."""
    status = status_of(template)
    if not status or RECORD_KEY not in status:
        return copy.deepcopy(template)
    out = copy.deepcopy(template)
    del status[RECORD_KEY]
    out["metadata"]["annotations"][STATUS] = json.dumps(status, separators=(",", ":"), ensure_ascii=False)
    return out


# --------------------------------------------------------------------------------------------- record / restore


def strip(injected_template: dict) -> dict:
    """The injected template minus the status annotation and what it names (containers and init containers
    by name from either list, volumes, imagePullSecrets). Lists emptied by this are removed."""
    status = status_of(injected_template) or {}
    # Copy only the path that changes; the rest is shared (every caller treats templates as immutable).
    out = dict(injected_template)
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = dict(out["metadata"])
        if isinstance(out["metadata"].get("annotations"), dict):
            out["metadata"]["annotations"] = {
                k: v for k, v in out["metadata"]["annotations"].items() if k != STATUS
            }
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    spec = out["spec"] = dict(spec)
    names: dict[str, set] = {"containers": set(), "volumes": set(), "imagePullSecrets": set()}
    for key, group in _LISTS:
        listed = status.get(key)
        if isinstance(listed, list):
            names[group].update(n for n in listed if isinstance(n, str))
    for key, group in _LISTS:
        items = spec.get(key)
        if not isinstance(items, list) or not names[group]:
            continue
        kept = [i for i in items if not (isinstance(i, dict) and i.get("name") in names[group])]
        if len(kept) != len(items):
            if kept:
                spec[key] = kept
            else:
                del spec[key]
    return out


def record(original_template: dict, injected_template: dict) -> dict:
    """The undo record for one injection: `restore(embed(injected, record(original, injected))) == original`.

    `injected_template` must carry the status annotation (without a "kinject" record, or with one: it is
    ignored)."""
    stripped = strip(injected_template)
    patch = _diff(stripped, original_template)
    patch = patch if patch is not None else {}
    rec = {"v": VERSION, "h": _hash(_touched(stripped, patch)), "p": patch}
    if not same(_apply(stripped, _roundtrip(rec)["p"]), original_template):
        # Something the patch language cannot express exactly (it should not happen): keep it all.
        rec["p"] = {"r": _literal(original_template)}
    return rec


def restore(injected_template: dict) -> dict | None:
    """The template as it was before kinject injected it; None when it carries no kinject undo record."""
    rec = extract(injected_template)
    if rec is None:
        return None
    return _apply(strip(injected_template), rec["p"])


def edited(injected_template: dict) -> bool:
    """True when a kinject-injected template was changed after injection where its undo record applies (a
    rewritten probe, a label kinject added, the list of containers...): restore is then best effort. Edits
    elsewhere (an image bump) do not count: restore keeps them, exactly, and re-injection records the same."""
    rec = extract(injected_template)
    return rec is not None and rec.get("h") != _hash(_touched(strip(injected_template), rec["p"]))


_ABSENT = "\x00absent"


def _touched(current: Any, patch: dict) -> Any:
    """The parts of `current` a patch reads or replaces (what `edited` compares)."""
    if "r" in patch or not isinstance(current, dict):
        return current
    out: dict[str, Any] = {}
    for key in list(patch.get("d") or []) + list(patch.get("s") or {}):
        out[f"={key}"] = current.get(key, _ABSENT)
    for key, sub in (patch.get("p") or {}).items():
        value = current.get(key, _ABSENT)
        if "l" in sub and isinstance(value, list):
            keyed = not sub.get("i")
            keys = [v.get("name") if keyed and isinstance(v, dict) else i for i, v in enumerate(value)]
            lookup = dict(zip(keys, value))
            out[f"[{key}"] = {"keys": keys, "items": {str(op[0]): _touched(lookup.get(op[0], _ABSENT), op[1])
                                                      for op in sub["l"] if isinstance(op, list)}}
        else:
            out[f".{key}"] = _touched(value, sub) if isinstance(sub, dict) else value
    return out


def _hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=repr, ensure_ascii=False)
    return sha256_hex(text, 16)


def _roundtrip(rec: dict) -> dict:
    return json.loads(json.dumps(rec, ensure_ascii=False))


# -- the patch language


def _json_exact(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return all(_json_exact(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) for k in value) and all(_json_exact(v) for v in value.values())
    return False


def _literal(value: Any) -> Any:
    """A value as stored in a patch (JSON, or YAML text when JSON would not give it back exactly)."""
    if _json_exact(value):
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) == "y":
            return {"y": yaml.safe_dump(value)}  # a literal that looks like an encoded one
        return copy.deepcopy(value)
    return {"y": yaml.safe_dump(value)}


def _unliteral(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("y"), str):
        return yaml.safe_load(value["y"])
    return copy.deepcopy(value)


def _diff(current: Any, target: Any) -> dict | None:
    """A patch turning `current` into `target` (both dicts); None when they are the same."""
    if same(current, target):
        return None
    patch: dict[str, Any] = {}
    if not all(isinstance(k, str) for k in list(current) + list(target)):
        return {"s": {}, "d": [], "r": _literal(target)}  # whole replacement (non-string keys)
    sets, deletes, subs = {}, [], {}
    for key, value in current.items():
        if key not in target:
            if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
                # a map injection created: delete its keys, then the map if nothing else is left in it
                subs[key] = {"d": sorted(value), "e": 1}
            elif isinstance(value, dict):
                subs[key] = {"e": 1}
            else:
                deletes.append(key)
    for key, value in target.items():
        if key not in current:
            sets[key] = _literal(value)
            continue
        old = current[key]
        if same(old, value):
            continue
        if isinstance(old, dict) and isinstance(value, dict):
            sub = _diff(old, value)
            if sub is not None:
                subs[key] = sub
        elif isinstance(old, list) and isinstance(value, list):
            subs[key] = _diff_list(old, value)
        else:
            sets[key] = _literal(value)
    if sets:
        patch["s"] = sets
    if deletes:
        patch["d"] = sorted(deletes)
    if subs:
        patch["p"] = subs
    return patch


def _keyed(items: list) -> bool:
    names = [i.get("name") if isinstance(i, dict) else None for i in items]
    return all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def _diff_list(current: list, target: list) -> dict:
    by_name = _keyed(current) and _keyed(target)
    keys = [c["name"] for c in current] if by_name else list(range(len(current)))
    index = {k: i for i, k in enumerate(keys)}
    ops: list[Any] = []
    used = set()
    for j, value in enumerate(target):
        key = value["name"] if by_name else j
        i = index.get(key)
        if i is None or (not by_name and i >= len(current)):
            ops.append({"=": _literal(value)})
            continue
        used.add(key)
        old = current[i]
        if same(old, value):
            ops.append(key)
        elif isinstance(old, dict) and isinstance(value, dict):
            sub = _diff(old, value)
            ops.append([key, sub] if sub is not None else key)
        else:
            ops.append({"=": _literal(value)})
    patch: dict[str, Any] = {"l": ops}
    if not by_name:
        patch["i"] = 1
    added = [k for k in keys if k not in used and isinstance(k, str)]
    if added:
        patch["x"] = added
    return patch


def _apply(current: Any, patch: dict) -> Any:
    """Apply a dict patch to a copy of `current` (tolerant: missing keys and elements are skipped)."""
    if "r" in patch:
        return _unliteral(patch["r"])
    out = dict(current) if isinstance(current, dict) else {}
    for key in patch.get("d") or []:
        out.pop(key, None)
    for key, value in (patch.get("s") or {}).items():
        out[key] = _unliteral(value)
    for key, sub in (patch.get("p") or {}).items():
        if key not in out:
            continue
        if "l" in sub:
            if isinstance(out[key], list):
                out[key] = _apply_list(out[key], sub)
            continue
        out[key] = _apply(out[key], sub)
        if sub.get("e") and out[key] == {}:
            del out[key]
    return out


def _apply_list(current: list, patch: dict) -> list:
    by_name = not patch.get("i")
    if by_name:
        lookup: dict[Any, Any] = {c["name"]: c for c in current if isinstance(c, dict) and isinstance(c.get("name"), str)}
    else:
        lookup = dict(enumerate(current))
    out, used = [], set()
    for op in patch["l"]:
        if isinstance(op, dict):
            out.append(_unliteral(op.get("=")))
            continue
        key, sub = (op[0], op[1]) if isinstance(op, list) else (op, None)
        if key not in lookup:
            continue  # removed since injection
        used.add(key)
        item = lookup[key]
        out.append(_apply(item, sub) if sub is not None else item)
    dropped = set(patch.get("x") or [])
    if by_name:  # elements added after injection are kept
        out += [c for c in current
                if not (isinstance(c, dict) and c.get("name") in used) and not (isinstance(c, dict) and c.get("name") in dropped)]
    return out


# --------------------------------------------------------------------------------------------- Istio (no record)

_PROBE_PATH = re.compile(r"^/app-(health|lifecycle)/([^/]+)/(readyz|livez|startupz|prestopz|poststartz)$")
_PROBE_FIELDS = {"readyz": ("readinessProbe",), "livez": ("livenessProbe",), "startupz": ("startupProbe",),
                 "prestopz": ("lifecycle", "preStop"), "poststartz": ("lifecycle", "postStart")}
_CNI_ECHO = ("sidecar.istio.io/interceptionMode", "traffic.sidecar.istio.io/includeOutboundIPRanges",
             "traffic.sidecar.istio.io/excludeOutboundIPRanges", "traffic.sidecar.istio.io/includeInboundPorts",
             "traffic.sidecar.istio.io/excludeInboundPorts", "traffic.sidecar.istio.io/includeOutboundPorts",
             "traffic.sidecar.istio.io/excludeOutboundPorts", "traffic.sidecar.istio.io/kubevirtInterfaces",
             "istio.io/reroute-virtual-interfaces", "traffic.sidecar.istio.io/excludeInterfaces")


def istio_uninject(template: dict, workload_name: str = "") -> dict | None:
    """Best-effort removal of an injection without a kinject record (Istio's webhook or `istioctl
    kube-inject`), following reference §5; None when the template carries no status annotation.

    What cannot be known is left as injected: CNI echo annotations are removed only when the pod's capture
    settings were not the user's (no way to tell: they are removed when `sidecar.istio.io/interceptionMode`
    was added, i.e. together); probe fields other than the handler stay as rewritten."""
    status = status_of(template)
    if status is None:
        return None
    out = copy.deepcopy(strip(template))  # the best-effort path edits in place
    spec = out.get("spec") if isinstance(out.get("spec"), dict) else {}
    meta = out.get("metadata") if isinstance(out.get("metadata"), dict) else {}
    annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    proxy = _find_container(template, PROXY)
    env = {e.get("name"): e.get("value") for e in (proxy or {}).get("env") or [] if isinstance(e, dict)}

    # user-declared containers the injector merged over (proxy.istio.io/overrides)
    overrides = {}
    if isinstance(annotations.get(OVERRIDES), str):
        try:
            overrides = json.loads(annotations[OVERRIDES])
        except ValueError:
            overrides = {}
    for key in _CONTAINER_KEYS:
        for container in (overrides.get(key) or []) if isinstance(overrides, dict) else []:
            if isinstance(container, dict) and container.get("resources") == {}:
                container = {k: v for k, v in container.items() if k != "resources"}
            if isinstance(container, dict):
                # a user customises the proxy in spec.containers (Istio moves it to initContainers when native)
                target = "containers" if container.get("name") == PROXY else key
                spec.setdefault(target, []).append(container)
    annotations.pop(OVERRIDES, None)

    # probes and lifecycle hooks
    try:
        probers = json.loads(env.get("ISTIO_KUBE_APP_PROBERS") or "{}")
    except ValueError:
        probers = {}
    for path, saved in (probers.items() if isinstance(probers, dict) else ()):
        m = _PROBE_PATH.match(path)
        if not m or not isinstance(saved, dict):
            continue
        container = next((c for k in _CONTAINER_KEYS for c in spec.get(k) or []
                          if isinstance(c, dict) and c.get("name") == m.group(2)), None)
        if container is None:
            continue
        *parents, leaf = _PROBE_FIELDS[m.group(3)]
        holder = container
        for p in parents:
            holder = holder.get(p) if isinstance(holder.get(p), dict) else None
            if holder is None:
                break
        if holder is None or not isinstance(holder.get(leaf), dict):
            continue
        probe = {k: v for k, v in holder[leaf].items() if k not in ("httpGet", "tcpSocket", "grpc")}
        for k in ("httpGet", "tcpSocket", "grpc"):
            if k in saved:
                probe[k] = saved[k]
        if "timeoutSeconds" in saved:
            probe["timeoutSeconds"] = saved["timeoutSeconds"]
        holder[leaf] = probe

    # prometheus: point the scrape annotations back at the app
    status_port = str(annotations.get("status.sidecar.istio.io/port") or 15020)
    if str(annotations.get("prometheus.io/port")) == status_port:
        for key in ("prometheus.io/port", "prometheus.io/path", "prometheus.io/scrape"):
            annotations.pop(key, None)
        try:
            saved = json.loads(env.get("ISTIO_PROMETHEUS_ANNOTATIONS") or "{}")
        except ValueError:
            saved = {}
        for field in ("scrape", "path", "port"):
            if isinstance(saved, dict) and saved.get(field):
                annotations[f"prometheus.io/{field}"] = str(saved[field])
    annotations.pop("prometheus.istio.io/secure-port", None)

    # annotations and labels the templates add
    annotations.pop("istio.io/rev", None)
    first_app = next((c.get("name") for c in spec.get("containers") or [] if isinstance(c, dict)), None)
    for key in ("kubectl.kubernetes.io/default-container", "kubectl.kubernetes.io/default-logs-container"):
        if annotations.get(key) == first_app:
            annotations.pop(key, None)
    if "sidecar.istio.io/interceptionMode" in annotations and _cni(status):
        for key in _CNI_ECHO:
            annotations.pop(key, None)
    if labels.get("security.istio.io/tlsMode") == "istio":
        labels.pop("security.istio.io/tlsMode")
    name = labels.get("app.kubernetes.io/name") or labels.get("app") or workload_name
    if name and labels.get("service.istio.io/canonical-name") == name.strip("-_.")[:63].strip("-_."):
        labels.pop("service.istio.io/canonical-name")
    revision = labels.get("app.kubernetes.io/version") or labels.get("version") or "latest"
    if labels.get("service.istio.io/canonical-revision") == revision:
        labels.pop("service.istio.io/canonical-revision")
    for key, value in (("annotations", annotations), ("labels", labels)):
        if key in meta and not value:
            del meta[key]
    if "metadata" in out and not meta:
        del out["metadata"]
    return out


def _cni(status: dict) -> bool:
    return VALIDATION in (status.get("initContainers") or [])


def _find_container(template: dict, name: str) -> dict | None:
    spec = template.get("spec") if isinstance(template.get("spec"), dict) else {}
    for key in _CONTAINER_KEYS:
        for c in spec.get(key) or []:
            if isinstance(c, dict) and c.get("name") == name:
                return c
    return None


def _annotations(template: dict) -> Any:
    meta = template.get("metadata") if isinstance(template, dict) else None
    return meta.get("annotations") if isinstance(meta, dict) else None
