"""Who a pod belongs to: deploy meta (Istio's GetDeployMetaFromPod), owner URI, workload and canonical names
(reference §2.11), plus the per-workload strings the sidecar template interpolates.

These strings differ for every workload, so render.py keeps them out of the render cache key and substitutes
them into a cached render (see render.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .model import Workload
from .post.overrides import PROXY as PROXY_CONTAINER
from .post.overrides import find_in_pod
_CRONJOB_SUFFIX = re.compile(r"^(.+)-\d{8,10}$")


@dataclass(frozen=True)
class DeployMeta:
    name: str
    namespace: str
    kind: str
    api_version: str


def deploy_meta(workload: Workload, pod_metadata: dict) -> DeployMeta:
    """The workload identity Istio writes into ISTIO_META_OWNER / WORKLOAD_NAME."""
    if workload.kind != "Pod":
        return DeployMeta(workload.name, workload.namespace, workload.kind, workload.api_version)
    labels = pod_metadata.get("labels") or {}
    name = pod_metadata.get("name") or workload.name or ""
    kind, api_version = "Pod", "v1"
    controller = next((ref for ref in pod_metadata.get("ownerReferences") or []
                       if isinstance(ref, dict) and ref.get("controller")), None)
    if pod_metadata.get("generateName") and controller:
        name = str(controller.get("name") or "")
        kind = str(controller.get("kind") or "")
        api_version = str(controller.get("apiVersion") or "")
        template_hash = labels.get("pod-template-hash")
        if kind == "ReplicaSet" and template_hash and name.endswith("-" + template_hash):
            name, kind, api_version = name[: -len(template_hash) - 1], "Deployment", "apps/v1"
        elif kind == "ReplicaSet" and "rollouts-pod-template-hash" in labels:
            kind, api_version = "Rollout", "v1alpha1"
        elif kind == "ReplicationController" and labels.get("deploymentconfig"):
            name, kind, api_version = labels["deploymentconfig"], "DeploymentConfig", "v1"
        elif kind == "Job":
            match = _CRONJOB_SUFFIX.match(name)
            if match:
                name, kind, api_version = match.group(1), "CronJob", "batch/v1"
    if not name:
        name = pod_metadata.get("name") or workload.name or ""
    return DeployMeta(name, workload.namespace, kind, api_version)


def owner_uri(meta: DeployMeta) -> str:
    """`kubernetes://apis/<apiVersion>/namespaces/<ns>/<kind>s/<name>` (naive plural, like Istio)."""
    if not meta.api_version or not meta.name:
        return ""
    return (f"kubernetes://apis/{meta.api_version}/namespaces/{meta.namespace or 'default'}/"
            f"{meta.kind.lower()}s/{meta.name}")


def canonical_name(labels: dict, meta: DeployMeta, truncate: bool = True) -> str:
    name = (labels.get("service.istio.io/canonical-name") or labels.get("app.kubernetes.io/name")
            or labels.get("app") or meta.name)
    name = str(name)
    if truncate:
        name = name[:63].strip("-_.")
    return name


def canonical_revision(labels: dict) -> str:
    return str(labels.get("service.istio.io/canonical-revision") or labels.get("app.kubernetes.io/version")
               or labels.get("version") or "latest")


def app_container_names(spec: dict) -> list[str]:
    return [str(c.get("name")) for c in spec.get("containers") or [] if c.get("name") != PROXY_CONTAINER]


_PORT_FIELDS = ("name", "hostPort", "containerPort", "protocol", "hostIP")


def pod_ports_json(spec: dict) -> str:
    """ISTIO_META_POD_PORTS: every container port (Go field order, zero values omitted), one per line.

    Istio lists the ports of `spec.containers` in order, including a user-declared istio-proxy. kinject lists
    the app containers' ports first and a user istio-proxy's ports last, wherever it is declared: after a
    re-injection the user's proxy comes back from `proxy.istio.io/overrides` (possibly as an init container),
    and this keeps the value identical. Same set of ports; the order differs only when the user declared ports
    on an istio-proxy placed before app containers.
    """
    containers = [c for c in spec.get("containers") or [] if c.get("name") != PROXY_CONTAINER]
    proxy = find_in_pod(PROXY_CONTAINER, spec)
    if proxy is not None:
        containers.append(proxy)
    text = "["
    first = True
    for container in containers:
        for port in container.get("ports") or []:
            entry = {k: port[k] for k in _PORT_FIELDS if port.get(k) not in (None, "", 0)}
            text += "\n    " + ("" if first else ",") + json.dumps(entry, separators=(",", ":"))
            first = False
    return text + "\n]"


def otel_resource_attributes(annotations: dict, labels: dict, spec: dict, namespace: str) -> str:
    """OTEL_RESOURCE_ATTRIBUTES for OTel semantic-convention enrichment (service.namespace/version/instance)."""
    containers = [c for c in spec.get("containers") or [] if c.get("name") != PROXY_CONTAINER]
    version = annotations.get("resource.opentelemetry.io/service.version") or labels.get("app.kubernetes.io/version")
    if not version and len(containers) == 1:
        image = str(containers[0].get("image") or "")
        last = image.rsplit("/", 1)[-1]
        if "@" in last:
            version = last.split("@", 1)[1] if ":" not in last.split("@", 1)[0] else last.split(":", 1)[1]
        elif ":" in last:
            version = last.split(":", 1)[1]
    ns = annotations.get("resource.opentelemetry.io/service.namespace") or namespace or "default"
    first = containers[0].get("name") if containers else ""
    instance = annotations.get("resource.opentelemetry.io/service.instance.id") or f"{ns}.$(POD_NAME).{first}"
    parts = [f"service.namespace={ns}"]
    if version:
        parts.append(f"service.version={version}")
    parts.append(f"service.instance.id={instance}")
    return ",".join(parts)


def workload_identity(workload: Workload, metadata: dict, spec: dict, *, otel: bool = False) -> dict[str, Any]:
    """Every per-workload string the built-in templates interpolate (the `id` object of the template data)."""
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    meta = deploy_meta(workload, metadata)
    apps = app_container_names(spec)
    return {
        "workload_name": str(labels.get("service.istio.io/workload-name") or meta.name or ""),
        "owner": owner_uri(meta),
        "canonical_name": canonical_name(labels, meta, truncate=True),
        "canonical_name_full": canonical_name(labels, meta, truncate=False),
        "canonical_revision": canonical_revision(labels),
        "pod_ports": pod_ports_json(spec),
        "app_containers": ",".join(apps),
        "default_container": apps[0] if apps else "",
        "mtls_secret_name": "istio." + str(spec.get("serviceAccountName") or "default"),
        "tls_mode": str(labels.get("security.istio.io/tlsMode") or "istio"),
        "tunnel": str(labels.get("networking.istio.io/tunnel") or "http"),
        "namespace": workload.namespace or "default",
        "otel_resource_attributes": (otel_resource_attributes(annotations, labels, spec, workload.namespace)
                                     if otel else ""),
    }
