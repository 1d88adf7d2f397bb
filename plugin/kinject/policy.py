"""Whether a pod is injected, by which revision, and why: Istio's two decision layers in one function.

Layer A is what the API server does with the MutatingWebhookConfigurations' namespace and object selectors
(labels only); layer B is the injector's own `injectRequired` (hostNetwork, system namespaces, the pod's
`sidecar.istio.io/inject`, never/always selectors, policy). kinject sees the Namespace objects of the bundle
instead of a cluster, so a namespace found nowhere counts as unlabelled, and the reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

INJECT_LABEL = "sidecar.istio.io/inject"
LEGACY_NS_LABEL = "istio-injection"
REV_LABEL = "istio.io/rev"
# Namespaces Istio never injects (pkg/kube/inject IgnoredNamespaces) and the `auto.` webhook excludes.
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})
# The default webhooks (namespace. / object.) call the default revision, unless a revision tag named "default"
# has taken them over; decide() resolves that tag.
DEFAULT_REVISION = "default"


@dataclass(frozen=True)
class NamespaceInfo:
    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    source: str  # "bundle", "config", "flag" or "unknown"


@dataclass
class Decision:
    inject: bool
    revision: str | None  # the revision (after tag resolution) that injects; None when skipped
    reasons: list[str] = field(default_factory=list)  # the chain, in evaluation order

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class RevisionPolicy:
    """The injector settings that take part in the decision, for one revision."""

    policy: str = "enabled"
    never_inject_selector: tuple[Mapping[str, Any], ...] = ()
    always_inject_selector: tuple[Mapping[str, Any], ...] = ()
    enable_namespaces_by_default: bool = False


def decide(
    *,
    pod_labels: Mapping[str, str],
    pod_annotations: Mapping[str, str],
    host_network: bool,
    namespace: NamespaceInfo,
    revisions: Mapping[str, RevisionPolicy],
    tags: Mapping[str, str] | None = None,
) -> Decision:
    """Istio's decision for one pod. `revisions` maps installed revision names ("default" for the default
    revision) to their policy; `tags` maps revision tags to revisions."""
    tags = tags or {}
    reasons: list[str] = []
    requested = _webhook_revision(pod_labels, namespace, revisions, tags, reasons)
    if requested is None:
        return Decision(False, None, reasons)
    revision = tags.get(requested, requested)
    if revision != requested:
        reasons.append(f"revision tag {requested!r} points to revision {revision!r}")
    if revision not in revisions:
        reasons.append(f"revision {revision!r} is not configured (spec.revisions)")
        return Decision(False, None, reasons)
    settings = revisions[revision]
    # ---- layer B: the injector's injectRequired
    if host_network:
        reasons.append("the pod uses hostNetwork")
        return Decision(False, None, reasons)
    if namespace.name in SYSTEM_NAMESPACES:
        reasons.append(f"namespace {namespace.name!r} is a system namespace Istio never injects")
        return Decision(False, None, reasons)
    explicit = _explicit_choice(pod_labels, pod_annotations, reasons)
    if explicit is None:
        if any(_matches(s, pod_labels) for s in settings.never_inject_selector):
            reasons.append("pod labels match neverInjectSelector")
            explicit = False
        elif any(_matches(s, pod_labels) for s in settings.always_inject_selector):
            reasons.append("pod labels match alwaysInjectSelector")
            explicit = True
    if settings.policy == "enabled":
        inject = True if explicit is None else explicit
        if explicit is None:
            reasons.append("policy enabled injects by default")
    elif settings.policy == "disabled":
        inject = False if explicit is None else explicit
        if explicit is None:
            reasons.append("policy disabled skips by default")
    else:
        reasons.append(f"policy {settings.policy!r} is neither enabled nor disabled")
        inject = False
    return Decision(inject, revision if inject else None, reasons)


def _webhook_revision(
    pod_labels: Mapping[str, str],
    ns: NamespaceInfo,
    revisions: Mapping[str, RevisionPolicy],
    tags: Mapping[str, str],
    reasons: list[str],
) -> str | None:
    """Layer A: which webhook (if any) the API server calls. Only labels count here."""
    pod_inject = pod_labels.get(INJECT_LABEL)
    opted_out = pod_inject == "false"
    where = f"namespace {ns.name!r}" + ("" if ns.source == "bundle" else f" ({_SOURCES[ns.source]})")
    if LEGACY_NS_LABEL in ns.labels:
        value = ns.labels[LEGACY_NS_LABEL]
        if value != "enabled":
            reasons.append(f"{where} has {LEGACY_NS_LABEL}={value!r}: no webhook matches")
            return None
        reasons.append(f"{where} has {LEGACY_NS_LABEL}=enabled")
        if opted_out:
            reasons.append(f"pod label {INJECT_LABEL}=false")
            return None
        return DEFAULT_REVISION
    if REV_LABEL in ns.labels:
        reasons.append(f"{where} has {REV_LABEL}={ns.labels[REV_LABEL]!r}")
        if opted_out:
            reasons.append(f"pod label {INJECT_LABEL}=false")
            return None
        return ns.labels[REV_LABEL]
    reasons.append(f"{where} has no {LEGACY_NS_LABEL} or {REV_LABEL} label")
    if REV_LABEL in pod_labels:
        reasons.append(f"pod label {REV_LABEL}={pod_labels[REV_LABEL]!r}")
        if opted_out:
            reasons.append(f"pod label {INJECT_LABEL}=false")
            return None
        return pod_labels[REV_LABEL]
    if pod_inject == "true":
        reasons.append(f"pod label {INJECT_LABEL}=true")
        return DEFAULT_REVISION
    default = revisions.get(DEFAULT_REVISION)
    if default and default.enable_namespaces_by_default and pod_inject is None and ns.name not in SYSTEM_NAMESPACES:
        reasons.append("enableNamespacesByDefault injects unlabelled namespaces")
        return DEFAULT_REVISION
    if pod_inject is not None:
        reasons.append(f"pod label {INJECT_LABEL}={pod_inject!r} does not opt in")
    else:
        reasons.append("the pod does not opt in")
    return None


_SOURCES = {
    "bundle": "Namespace object in the input",
    "config": "labels from spec.namespaces",
    "flag": "labels from --namespace-labels",
    "unknown": "no Namespace object in the input and none configured, so unlabelled",
}


def _explicit_choice(labels: Mapping[str, str], annotations: Mapping[str, str], reasons: list[str]) -> bool | None:
    if INJECT_LABEL in labels:
        value, source = labels[INJECT_LABEL], "label"
    elif INJECT_LABEL in annotations:
        value, source = annotations[INJECT_LABEL], "annotation"
    else:
        return None
    if value in ("true", "false"):
        reason = f"pod {source} {INJECT_LABEL}={value}"
        if reason not in reasons:  # layer A may have said it already
            reasons.append(reason)
        return value == "true"
    if value:
        reasons.append(f"pod {source} {INJECT_LABEL}={value!r} is neither true nor false: ignored")
    return None


def _matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics; an empty selector never matches (Istio skips it)."""
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in expressions:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True
