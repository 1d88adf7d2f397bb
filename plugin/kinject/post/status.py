"""The `sidecar.istio.io/status` annotation and the cluster/network env (reference §2.2, §2.3.6)."""

from __future__ import annotations

import json

STATUS_ANNOTATION = "sidecar.istio.io/status"
NETWORK_LABEL = "topology.istio.io/network"
# Env entries that post-processing appends; cluster/network entries are kept in front of them.
_APPENDED_LATER = ("ISTIO_PROMETHEUS_ANNOTATIONS", "ISTIO_KUBE_APP_PROBERS")


def parse_status(annotations: dict) -> dict | None:
    text = annotations.get(STATUS_ANNOTATION)
    if text is None:
        return None
    return parse_status_text(text)


def parse_status_text(text: str) -> dict:
    """A status annotation's value parsed; {} when it is not a JSON object."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def status_annotation(template_spec: dict, revision: str) -> str:
    """Compact JSON of what the templates injected (names in template order; Go nil lists are null)."""
    def names(key: str) -> list[str] | None:
        items = [str(item.get("name")) for item in template_spec.get(key) or [] if isinstance(item, dict)]
        return items or None

    return json.dumps({"initContainers": names("initContainers"), "containers": names("containers"),
                       "volumes": names("volumes"), "imagePullSecrets": names("imagePullSecrets"),
                       "revision": revision or "default"}, separators=(",", ":"))


def cluster_network_env(values: dict, labels: dict) -> tuple[dict[str, str], str]:
    """(proxy env overrides, network): cluster from values, network from the pod label or values."""
    g = values.get("global") or {}
    cluster = str((g.get("multiCluster") or {}).get("clusterName") or "")
    network = str(labels.get(NETWORK_LABEL) or g.get("network") or "")
    env = {}
    if cluster:
        env["ISTIO_META_CLUSTER_ID"] = cluster
    if network:
        env["ISTIO_META_NETWORK"] = network
    return env, network


def overwrite_cluster_info(proxy: dict | None, proxy_env: dict[str, str]) -> None:
    """Move/append the cluster/network env to the end of the proxy env (sorted by name), like Istio.

    They go in front of entries appended later in post-processing (prometheus, probers), so re-injecting an
    injected pod yields the same order.
    """
    if proxy is None or not proxy_env:
        return
    env = [e for e in proxy.get("env") or [] if not (isinstance(e, dict) and e.get("name") in proxy_env)]
    position = next((i for i, e in enumerate(env) if isinstance(e, dict) and e.get("name") in _APPENDED_LATER),
                    len(env))
    added = [{"name": name, "value": proxy_env[name]} for name in sorted(proxy_env)]
    proxy["env"] = env[:position] + added + env[position:]
