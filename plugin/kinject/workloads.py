"""Where each workload kind keeps its pod template, and who owns it."""

from __future__ import annotations

from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, SequenceNode

from .yamltext import mapping_get, node_at, scalar_at

# kind -> path of the pod template inside the object ( () = the object itself is the pod )
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    # The webhook sees the Pod the Job creates, so the injected metadata belongs on the pod template, not on
    # spec.jobTemplate.metadata where `istioctl kube-inject` puts it (a known upstream quirk).
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "DeploymentConfig": ("spec", "template"),  # OpenShift apps.openshift.io/v1 (also legacy v1)
    "Rollout": ("spec", "template"),  # Argo Rollouts argoproj.io/v1alpha1
}

# Kinds that only count as workloads under these API groups (a CRD named Rollout elsewhere is not ours).
_GROUPS: dict[str, tuple[str, ...]] = {
    "Pod": ("v1",),
    "Deployment": ("apps/", "extensions/"),
    "StatefulSet": ("apps/",),
    "DaemonSet": ("apps/", "extensions/"),
    "ReplicaSet": ("apps/", "extensions/"),
    "ReplicationController": ("v1",),
    "Job": ("batch/",),
    "CronJob": ("batch/",),
    "DeploymentConfig": ("apps.openshift.io/", "v1"),
    "Rollout": ("argoproj.io/",),
}


def is_workload(api_version: str | None, kind: str | None) -> bool:
    if kind not in POD_TEMPLATE_PATHS or not api_version:
        return False
    return any(api_version == g or (g.endswith("/") and api_version.startswith(g)) for g in _GROUPS[kind])


def is_list(api_version: str | None, kind: str | None) -> bool:
    return kind == "List" or (kind is not None and kind.endswith("List") and api_version == "v1")


@dataclass
class ObjectRef:
    """What a result names: the object, and for a List member, the List it sits in."""

    api_version: str
    kind: str
    name: str
    namespace: str | None

    def describe(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name or '<unnamed>'}"


def object_ref(node: Node) -> ObjectRef:
    return ObjectRef(
        api_version=scalar_at(node, "apiVersion") or "",
        kind=scalar_at(node, "kind") or "",
        name=scalar_at(node, "metadata", "name") or scalar_at(node, "metadata", "generateName") or "",
        namespace=scalar_at(node, "metadata", "namespace"),
    )


def pod_template_node(node: Node, kind: str) -> Node | None:
    """The pod template mapping of a workload node; None when the object has none."""
    path = POD_TEMPLATE_PATHS[kind]
    template = node_at(node, *path) if path else node
    return template if isinstance(template, MappingNode) else None


def list_members(node: Node) -> list[Node]:
    items = mapping_get(node, "items")
    return list(items.value) if isinstance(items, SequenceNode) else []
