"""User-declared containers that a template also declares (reference §2.8, Istio reapplyOverwrittenContainers).

A pod may declare `istio-proxy` (or `istio-init`, or for custom templates an app container) to customise it.
After the template merge, the user's container is strategically merged back on top, and on first injection
recorded in `proxy.istio.io/overrides` so a later re-injection can re-apply exactly the user's part.
"""

from __future__ import annotations

import json
from ..errors import InjectionError
from ..merge import copy_data, merge_pod

OVERRIDES_ANNOTATION = "proxy.istio.io/overrides"
AUTO_IMAGE = "auto"
PROXY = "istio-proxy"
INIT = "istio-init"
VALIDATION = "istio-validation"

# Go's corev1.Container field order, used when writing the overrides annotation (reads like Istio's).
_CONTAINER_FIELDS = ("name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
                     "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
                     "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
                     "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty")


def find(name: str, containers: list | None) -> dict | None:
    for container in containers or []:
        if isinstance(container, dict) and container.get("name") == name:
            return container
    return None


def find_in_pod(name: str, spec: dict) -> dict | None:
    return find(name, spec.get("containers")) or find(name, spec.get("initContainers"))


def parse_overrides(annotations: dict) -> dict[str, list[dict]]:
    text = annotations.get(OVERRIDES_ANNOTATION)
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise InjectionError(f"annotation {OVERRIDES_ANNOTATION} is not valid JSON: {exc}",
                             field=f'metadata.annotations["{OVERRIDES_ANNOTATION}"]') from None
    if not isinstance(parsed, dict):
        raise InjectionError(f"annotation {OVERRIDES_ANNOTATION} must be a JSON object",
                             field=f'metadata.annotations["{OVERRIDES_ANNOTATION}"]')
    return {key: [c for c in parsed.get(key) or [] if isinstance(c, dict)] for key in ("containers", "initContainers")}


def _ordered_container(container: dict) -> dict:
    """Go's Container field order at the top; nested maps in sorted key order, so that the annotation does
    not depend on how the user's YAML happened to order its keys (re-injection must be byte-stable)."""
    out = {k: _sorted(container[k]) for k in _CONTAINER_FIELDS if k in container}
    out.update({k: _sorted(v) for k, v in container.items() if k not in out})
    out.setdefault("resources", {})
    return out


def _sorted(value):
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def reapply_user_containers(merged: dict, original_spec: dict, template_spec: dict, status: dict | None,
                            existing_overrides: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Merge user containers back over the template result (in place); return the overlays applied.

    Istio skips names listed in an existing status annotation (they were injected before, the new template
    wins). kinject still re-applies a recorded `proxy.istio.io/overrides` entry for them: it holds only the
    user's part, so re-injection stays idempotent (Istio loses such customisations on re-injection).
    """
    applied: dict[str, list[dict]] = {"containers": [], "initContainers": []}
    for list_name in ("containers", "initContainers"):
        injected_before = set((status or {}).get(list_name) or [])
        for template_container in template_spec.get(list_name) or []:
            name = template_container.get("name")
            match = find(name, existing_overrides.get(list_name))
            if match is None and name not in injected_before:
                match = find_in_pod(name, original_spec)
            if match is None:
                continue
            overlay = copy_data(match)
            if overlay.get("image") == AUTO_IMAGE:
                overlay.pop("image")
            if overlay.get("resources") == {}:
                overlay.pop("resources")  # Go writes an empty struct here; merging it would add `resources: {}`
            applied[list_name].append(overlay)
            merge_pod(merged, {"spec": {list_name: [overlay]}})
    return applied


def overrides_annotation(applied: dict[str, list[dict]]) -> str | None:
    body = {k: [_ordered_container(c) for c in v] for k, v in applied.items() if v}
    if not body:
        return None
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def user_proxy(original_spec: dict, existing_overrides: dict[str, list[dict]], status: dict | None) -> dict | None:
    """The istio-proxy the user declared: the recorded override, else the pod's own istio-proxy unless a
    previous injection put it there (Istio also takes an injected one, so TPROXY re-injection drifts)."""
    recorded = find(PROXY, existing_overrides.get("containers")) or find(PROXY, existing_overrides.get("initContainers"))
    if recorded is not None:
        return recorded
    if status is not None and PROXY in (status.get("containers") or []) + (status.get("initContainers") or []):
        return None
    return find_in_pod(PROXY, original_spec)


def adjust_init_container_user(merged_spec: dict, user_container: dict | None, tproxy: bool) -> None:
    """A custom istio-proxy runAsUser/runAsGroup also drives istio-init's `-u` and istio-validation's user."""
    if not user_container:
        return
    security = user_container.get("securityContext") or {}
    run_as_user, run_as_group = security.get("runAsUser"), security.get("runAsGroup")
    if run_as_user is None and run_as_group is None:
        return
    proxy = find_in_pod(PROXY, merged_spec)
    init = find(INIT, merged_spec.get("initContainers"))
    validation = find(VALIDATION, merged_spec.get("initContainers"))
    if tproxy:
        if proxy is not None:
            proxy.setdefault("securityContext", {})["runAsUser"] = 0
    elif validation is not None:
        context = validation.setdefault("securityContext", {})
        if run_as_user is not None:
            context["runAsUser"] = run_as_user
        if run_as_group is not None:
            context["runAsGroup"] = run_as_group
    if run_as_user:
        for container in (init, validation):
            args = (container or {}).get("args")
            if isinstance(args, list):
                for i, arg in enumerate(args[:-1]):
                    if arg == "-u":
                        args[i + 1] = str(run_as_user)


def clear_openshift_proxy_user(spec: dict) -> None:
    """OpenShift: a user istio-proxy that runs as the app's uid gets the namespace uid instead (webhook rule)."""
    proxy = find_in_pod(PROXY, spec)
    if not proxy or not isinstance(proxy.get("securityContext"), dict):
        return
    proxy_user = proxy["securityContext"].get("runAsUser")
    for container in spec.get("containers") or []:
        if container is proxy:
            continue
        if (container.get("securityContext") or {}).get("runAsUser") == proxy_user:
            proxy["securityContext"].pop("runAsUser", None)
            proxy["securityContext"].pop("runAsGroup", None)
            return
