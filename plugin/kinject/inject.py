"""The injection pipeline for one pod template: pure data in, data out (Istio's injectPod, reference §2.2).

    validate annotations
    -> template input: strip a previous injection (status annotation), re-insert recorded overrides (§1.5)
    -> render each selected template once, strategic-merge it onto the template pod and onto the pod (§2.2 e)
    -> re-apply user containers the templates also declare (§2.8)
    -> cluster/network env, Prometheus merge, probe rewrite, labels/status annotation, container order

The caller has already decided to inject (policy is not this module's job).
"""

from __future__ import annotations

from .errors import InjectionError, TemplateError
from .merge import clone, merge_pod
from .model import InjectOutcome, PodTemplate, Workload
from .post.order import move_proxy_to_init, reorder_pod
from .post.overrides import (OVERRIDES_ANNOTATION, PROXY, adjust_init_container_user, clear_openshift_proxy_user,
                             find, find_in_pod, overrides_annotation, parse_overrides, reapply_user_containers,
                             user_proxy)
from .post.probes import apply_probe_rewrite
from .post.prometheus import apply_prometheus_merge
from .post.status import (NETWORK_LABEL, STATUS_ANNOTATION, cluster_network_env, overwrite_cluster_info,
                          parse_status, status_annotation)
from .profile import TEMPLATES_ANNOTATION, Profile
from .proxyconfig import mesh_status_port
from .render import RENDER_CACHE
from .template_data import ANN_STATUS_PORT, TemplateData, build_template_data, native_move_enabled, parse_rewrite_flag
from .validate import validate_annotations

SECURE_PORT_ANNOTATION = "prometheus.istio.io/secure-port"


def select_templates(annotations: dict, profile: Profile) -> list[str]:
    """`inject.istio.io/templates` (comma list) or the default templates, alias-expanded one level."""
    requested = annotations.get(TEMPLATES_ANNOTATION)
    names = [n.strip() for n in requested.split(",")] if requested else list(profile.default_templates)
    expanded: list[str] = []
    for name in names:
        expanded.extend(profile.aliases.get(name, [name]))
    for name in expanded:
        if name not in profile.templates:
            raise TemplateError(f"requested template {name!r} not found; have {', '.join(sorted(profile.templates))}",
                                field=f'metadata.annotations["{TEMPLATES_ANNOTATION}"]')
    return expanded


def template_input(metadata: dict, spec: dict, status: dict | None, overrides: dict, mesh: dict) -> tuple[dict, dict]:
    """What the templates see: the pod minus a previous injection, plus the user's recorded overrides."""
    if status is None:
        return metadata, spec
    meta = dict(metadata)
    annotations = dict(meta.get("annotations") or {})
    new_spec = dict(spec)
    for key in ("initContainers", "containers"):
        injected = set(status.get(key) or [])
        if key in new_spec:
            new_spec[key] = [c for c in new_spec.get(key) or [] if c.get("name") not in injected]
    status_port = str(mesh_status_port(mesh))
    if annotations.get("prometheus.io/port") == status_port:
        for key in ("prometheus.io/port", "prometheus.io/path", "prometheus.io/scrape"):
            annotations.pop(key, None)
    annotations.pop(STATUS_ANNOTATION, None)
    for key in ("containers", "initContainers"):
        for container in overrides.get(key) or []:
            if find(container.get("name"), new_spec.get(key)) is None:
                new_spec[key] = [*(new_spec.get(key) or []), container]
    meta["annotations"] = annotations
    return meta, new_spec


def _redirect_proxy_patch(patch: dict, template_spec: dict) -> dict:
    """kinject fix for istio/istio#56455: when the proxy is already a native init sidecar, a later template
    that patches `containers: [istio-proxy]` patches the init sidecar instead of adding a second proxy."""
    spec = patch.get("spec")
    if not isinstance(spec, dict) or find(PROXY, template_spec.get("initContainers")) is None:
        return patch
    proxy_patch = find(PROXY, spec.get("containers"))
    if proxy_patch is None:
        return patch
    spec = dict(spec)
    spec["containers"] = [c for c in spec["containers"] if c is not proxy_patch]
    if not spec["containers"]:
        del spec["containers"]
    spec["initContainers"] = [*(spec.get("initContainers") or []), proxy_patch]
    return {**patch, "spec": spec}


_NAMED_LISTS = ("initContainers", "containers", "volumes", "imagePullSecrets")


def _skeleton(patch: dict) -> dict:
    """The part of a template result the template pod needs: item names (and directives) of the lists the
    status annotation and the override detection read. Much cheaper to merge than the whole patch."""
    spec = patch.get("spec")
    if not isinstance(spec, dict):
        return {"spec": {}}
    out: dict = {"$patch": spec["$patch"]} if "$patch" in spec else {}
    for key in _NAMED_LISTS:
        items = spec.get(key)
        if isinstance(items, list):
            out[key] = [{k: v for k, v in item.items() if k in ("name", "$patch")}
                        for item in items if isinstance(item, dict)]
        elif key in spec:
            out[key] = items
    return {"spec": out}


def inject_pod(pod: PodTemplate, workload: Workload, profile: Profile,
               namespace_annotations: dict[str, str] | None = None) -> InjectOutcome:
    check_pod_shape(pod)
    annotations = (pod.metadata or {}).get("annotations") or {}
    validate_annotations(annotations)
    # `original_spec` is the user's pod as Istio sees it; it is only read from here on. `merged` is the
    # working copy every step edits.
    original_spec = spec_before_merge(pod, profile)
    merged = {"metadata": clone(pod.metadata or {}), "spec": clone(original_spec)}
    status = parse_status(annotations)
    existing_overrides = parse_overrides(annotations)
    tmpl_meta, tmpl_spec = template_input(pod.metadata or {}, original_spec, status, existing_overrides,
                                          profile.mesh)
    names = select_templates(tmpl_meta.get("annotations") or {}, profile)
    data: dict[bool, TemplateData] = {}  # built-in / user template data, built on first use

    def data_for(user: bool) -> TemplateData:
        if user not in data:
            data[user] = build_template_data(profile, workload, tmpl_meta, tmpl_spec,
                                             namespace_annotations=namespace_annotations, user_template=user)
        return data[user]

    settings = data_for(False).shared["s"]
    warnings: list[str] = []
    template_spec = _apply_templates(merged, names, profile, data_for, native_move_enabled(profile, annotations),
                                     warnings)

    applied = reapply_user_containers(merged, original_spec, template_spec, status, existing_overrides)
    annotations_out = merged["metadata"].setdefault("annotations", {})
    if status is None:
        recorded = overrides_annotation(applied)
        if recorded:
            annotations_out[OVERRIDES_ANNOTATION] = recorded
    adjust_init_container_user(merged["spec"], user_proxy(original_spec, existing_overrides, status),
                               settings["tproxy"])
    _post_process(merged, template_spec, profile, settings)
    warnings += _layout_warnings(merged["spec"], settings, annotations)
    return InjectOutcome(metadata=merged["metadata"], spec=merged["spec"], warnings=warnings)


def _apply_templates(merged: dict, names: list[str], profile: Profile, data_for, native_move: bool,
                     warnings: list[str]) -> dict:
    """Render each template once and merge it onto the pod (in place). Returns the accumulated template pod
    spec (item names only: what the status annotation and the override detection need)."""
    template_pod: dict = {"metadata": {}, "spec": {}}
    for name in names:
        patch, plain = RENDER_CACHE.render_owned(name, profile, data_for(name in profile.user_templates))
        if native_move:
            redirected = _redirect_proxy_patch(patch, template_pod["spec"])
            if redirected is not patch:
                warnings.append(f"template {name!r} patches istio-proxy under spec.containers; applied to the "
                                "native sidecar in spec.initContainers (Istio would add a second istio-proxy)")
                patch = redirected
        merge_pod(template_pod, _skeleton(patch), owned=True)
        if native_move and find(PROXY, template_pod["spec"].get("initContainers")) is not None:
            move_proxy_to_init(merged["spec"])
        merge_pod(merged, patch, owned=plain)
    return template_pod["spec"]


def _post_process(merged: dict, template_spec: dict, profile: Profile, settings: dict) -> None:
    """Istio's postProcessPod, in its order: cluster/network env, Prometheus, probes, metadata, reorder."""
    metadata, spec = merged["metadata"], merged["spec"]
    annotations = metadata.setdefault("annotations", {})
    labels = metadata.get("labels") or {}
    proxy = find_in_pod(PROXY, spec)
    proxy_env, network = cluster_network_env(profile.values, labels)
    overwrite_cluster_info(proxy, proxy_env)
    apply_prometheus_merge(annotations, proxy, profile.mesh)
    _secure_port_annotation(annotations, proxy)
    rewrite_default = bool((profile.values.get("sidecarInjectorWebhook") or {}).get("rewriteAppHTTPProbe", True))
    if proxy is not None and parse_rewrite_flag(annotations, rewrite_default):
        apply_probe_rewrite(spec, proxy, _probe_status_port(annotations, profile.mesh))
    if network:
        metadata.setdefault("labels", {})[NETWORK_LABEL] = network
    annotations[STATUS_ANNOTATION] = status_annotation(template_spec, profile.revision)
    # The webhook adds these (kube-inject does not); kinject emulates the webhook.
    annotations.update(profile.injected_annotations)
    reorder_pod(spec, settings["hold"])


def _layout_warnings(spec: dict, settings: dict, annotations: dict) -> list[str]:
    warnings = []
    native_proxy = settings["native"] and find(PROXY, spec.get("initContainers")) is not None
    if native_proxy and settings["status_port"] == "0":
        warnings.append("status port 0: the native sidecar's preStop drain hook calls "
                        "`pilot-agent request --debug-port=0`, which cannot work")
    if native_proxy and settings["hold"] and "holdApplicationUntilProxyStarts" in annotations.get(
            "proxy.istio.io/config", ""):
        warnings.append("holdApplicationUntilProxyStarts has no effect with native sidecars: the init sidecar "
                        "already starts before the application")
    if "containers" in spec and not spec["containers"]:
        warnings.append("no application container is left in spec.containers (the only container was "
                        "istio-proxy); the API server will reject this pod")
    return warnings


def check_pod_shape(pod: PodTemplate) -> None:
    """Reject what Kubernetes would not decode into a Pod, with a message instead of a crash later on."""
    if not isinstance(pod.metadata or {}, dict) or not isinstance(pod.spec or {}, dict):
        raise InjectionError("the pod template's metadata and spec must be mappings", field="spec.template")
    for key in ("labels", "annotations"):
        entries = (pod.metadata or {}).get(key)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise InjectionError(f"metadata.{key} must be a mapping of strings", field=f"metadata.{key}")
        for name, value in entries.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise InjectionError(f"metadata.{key}[{name!r}] must be a string (quote it in YAML)",
                                     field=f'metadata.{key}["{name}"]')
    for key in ("containers", "initContainers", "volumes", "imagePullSecrets"):
        items = (pod.spec or {}).get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InjectionError(f"spec.{key} must be a list of mappings", field=f"spec.{key}")
        if key in ("containers", "initContainers"):
            for index, container in enumerate(items):
                if not isinstance(container.get("name"), str):
                    raise InjectionError(f"spec.{key}[{index}].name must be a string", field=f"spec.{key}[{index}].name")
                for list_key in ("env", "ports", "volumeMounts"):
                    value = container.get(list_key)
                    if value is not None and (not isinstance(value, list)
                                              or not all(isinstance(i, dict) for i in value)):
                        raise InjectionError(f"spec.{key}[{index}].{list_key} must be a list of mappings",
                                             field=f"spec.{key}[{index}].{list_key}")


def spec_before_merge(pod: PodTemplate, profile: Profile) -> dict:
    """The user's original spec (what Istio calls the original pod), with the OpenShift uid rule applied.
    Read-only: callers must not edit it (it may be the caller's own object)."""
    if not profile.openshift:
        return pod.spec or {}
    spec = clone(pod.spec or {})
    clear_openshift_proxy_user(spec)
    return spec


def _probe_status_port(annotations: dict, mesh: dict) -> int:
    value = annotations.get(ANN_STATUS_PORT)
    if value is not None:
        try:
            return int(value)
        except ValueError:
            pass
    return int(mesh_status_port(mesh))


def _secure_port_annotation(annotations: dict, proxy: dict | None) -> None:
    if proxy is None or any(k.endswith("secure-port") for k in annotations if "prometheus" in k):
        return
    for env in proxy.get("env") or []:
        if isinstance(env, dict) and env.get("name") == "ENVOY_SECURE_MERGED_METRICS_PORT":
            if env.get("value") and env["value"] != "0":
                annotations[SECURE_PORT_ANNOTATION] = env["value"]
            return
