"""Plain data shared between the pipeline steps. No I/O, no YAML text here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Workload:
    """Identity of the object that owns a pod template (what the webhook derives from the Pod's owners).

    For a bare Pod, kind is "Pod" and the engine derives the real owner from generateName/ownerReferences,
    as Istio's GetDeployMetaFromPod does.
    """

    api_version: str
    kind: str
    name: str
    namespace: str  # effective namespace (object's own, else --namespace / defaultNamespace)


@dataclass
class PodTemplate:
    """A pod template cut out of a workload: `metadata` and `spec` are plain dicts (edited in place by nobody:
    the engine returns new ones)."""

    metadata: dict[str, Any]
    spec: dict[str, Any]


@dataclass
class InjectOutcome:
    metadata: dict[str, Any]
    spec: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
