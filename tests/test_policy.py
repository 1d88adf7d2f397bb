"""The decision table: every row of Istio's webhook selectors (layer A) and injectRequired (layer B)."""

from __future__ import annotations

import pytest

from kinject.policy import NamespaceInfo, RevisionPolicy, decide

DEFAULT = {"default": RevisionPolicy()}


def ns(labels=None, name="apps", source="bundle"):
    return NamespaceInfo(name, labels or {}, {}, source)


def run(ns_labels=None, pod_labels=None, pod_annotations=None, host_network=False, name="apps",
        revisions=None, tags=None, source="bundle"):
    return decide(
        pod_labels=pod_labels or {},
        pod_annotations=pod_annotations or {},
        host_network=host_network,
        namespace=ns(ns_labels, name, source),
        revisions=revisions or DEFAULT,
        tags=tags,
    )


# (namespace labels, pod labels, pod annotations, expected revision or None)
LAYER_A = [
    # 1. istio-injection=enabled: default revision unless the pod label says "false"
    ({"istio-injection": "enabled"}, {}, {}, "default"),
    ({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "false"}, {}, None),
    ({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "true"}, {}, "default"),
    # ... and istio.io/rev labels are then ignored: the legacy label wins
    ({"istio-injection": "enabled", "istio.io/rev": "canary"}, {}, {}, "default"),
    ({"istio-injection": "enabled"}, {"istio.io/rev": "canary"}, {}, "default"),
    # 2. istio-injection with any other value: no webhook at all, even for an opted-in pod
    ({"istio-injection": "disabled"}, {"sidecar.istio.io/inject": "true"}, {}, None),
    ({"istio-injection": "Enabled"}, {}, {}, None),
    ({"istio-injection": ""}, {}, {}, None),
    # 3. namespace istio.io/rev: that revision, the pod's own rev label is ignored
    ({"istio.io/rev": "canary"}, {}, {}, "canary"),
    ({"istio.io/rev": "canary"}, {"istio.io/rev": "default"}, {}, "canary"),
    ({"istio.io/rev": "canary"}, {"sidecar.istio.io/inject": "false"}, {}, None),
    ({"istio.io/rev": "unknown"}, {}, {}, None),
    # 4. unlabelled namespace: the pod decides
    ({}, {"istio.io/rev": "canary"}, {}, "canary"),
    ({}, {"istio.io/rev": "canary", "sidecar.istio.io/inject": "true"}, {}, "canary"),
    ({}, {"istio.io/rev": "canary", "sidecar.istio.io/inject": "false"}, {}, None),
    ({}, {"sidecar.istio.io/inject": "true"}, {}, "default"),
    ({}, {}, {}, None),
    # annotations are invisible to the selectors
    ({}, {}, {"sidecar.istio.io/inject": "true"}, None),
    # 5. values are case-sensitive: "True" is not "true"
    ({}, {"sidecar.istio.io/inject": "True"}, {}, None),
]


@pytest.mark.parametrize("ns_labels,pod_labels,pod_annotations,expected", LAYER_A)
def test_webhook_selectors(ns_labels, pod_labels, pod_annotations, expected):
    revisions = {"default": RevisionPolicy(), "canary": RevisionPolicy()}
    d = run(ns_labels, pod_labels, pod_annotations, revisions=revisions)
    assert d.revision == expected
    assert d.inject is (expected is not None)
    assert d.reasons, "every decision carries its reasons"


def test_enable_namespaces_by_default_skips_system_namespaces_and_explicit_pods():
    revisions = {"default": RevisionPolicy(enable_namespaces_by_default=True)}
    assert run({}, {}, {}, revisions=revisions).inject
    assert not run({}, {}, {}, revisions=revisions, name="kube-system").inject
    # a pod that carries the inject label at all is left to the object selectors
    assert not run({}, {"sidecar.istio.io/inject": "false"}, {}, revisions=revisions).inject


ENABLED = {"istio-injection": "enabled"}


def test_host_network_is_never_injected():
    d = run(ENABLED, {"sidecar.istio.io/inject": "true"}, host_network=True)
    assert not d.inject and "hostNetwork" in d.reason


@pytest.mark.parametrize("name", ["kube-system", "kube-public", "kube-node-lease", "local-path-storage"])
def test_system_namespaces_are_never_injected(name):
    d = run(ENABLED, {"sidecar.istio.io/inject": "true"}, name=name)
    assert not d.inject and "system namespace" in d.reason


# Layer B, step 3: the pod's own choice; the label wins over the (deprecated) annotation, even when empty.
@pytest.mark.parametrize(
    "labels,annotations,policy,expected",
    [
        ({}, {"sidecar.istio.io/inject": "false"}, "enabled", False),
        ({}, {"sidecar.istio.io/inject": "true"}, "disabled", True),
        ({"sidecar.istio.io/inject": "true"}, {"sidecar.istio.io/inject": "false"}, "enabled", True),
        ({"sidecar.istio.io/inject": ""}, {"sidecar.istio.io/inject": "false"}, "enabled", True),
        ({}, {"sidecar.istio.io/inject": "maybe"}, "enabled", True),  # invalid: use the default
        ({}, {"sidecar.istio.io/inject": "maybe"}, "disabled", False),
        ({}, {}, "enabled", True),
        ({}, {}, "disabled", False),
        ({}, {}, "bogus", False),  # an unknown policy never injects
    ],
)
def test_pod_choice_and_policy(labels, annotations, policy, expected):
    d = run(ENABLED, labels, annotations, revisions={"default": RevisionPolicy(policy=policy)})
    assert d.inject is expected


def test_never_selector_wins_over_always_and_explicit_choice_wins_over_both():
    never = ({"matchLabels": {"team": "batch"}},)
    always = ({"matchExpressions": [{"key": "team", "operator": "Exists"}]},)
    revisions = {"default": RevisionPolicy(policy="disabled", never_inject_selector=never,
                                           always_inject_selector=always)}
    assert not run(ENABLED, {"team": "batch"}, revisions=revisions).inject
    assert run(ENABLED, {"team": "web"}, revisions=revisions).inject
    assert run(ENABLED, {"team": "batch"}, {"sidecar.istio.io/inject": "true"}, revisions=revisions).inject
    assert "neverInjectSelector" in run(ENABLED, {"team": "batch"}, revisions=revisions).reason


def test_empty_selector_never_matches():
    revisions = {"default": RevisionPolicy(never_inject_selector=({},))}
    assert run(ENABLED, {"a": "b"}, revisions=revisions).inject


@pytest.mark.parametrize(
    "expr,labels,matches",
    [
        ({"key": "t", "operator": "In", "values": ["a"]}, {"t": "a"}, True),
        ({"key": "t", "operator": "In", "values": ["a"]}, {}, False),
        ({"key": "t", "operator": "NotIn", "values": ["a"]}, {"t": "b"}, True),
        ({"key": "t", "operator": "NotIn", "values": ["a"]}, {}, True),
        ({"key": "t", "operator": "DoesNotExist"}, {}, True),
        ({"key": "t", "operator": "DoesNotExist"}, {"t": "x"}, False),
    ],
)
def test_selector_expressions(expr, labels, matches):
    revisions = {"default": RevisionPolicy(never_inject_selector=({"matchExpressions": [expr]},))}
    assert run(ENABLED, labels, revisions=revisions).inject is not matches


def test_revision_tags_resolve_to_their_revision():
    revisions = {"default": RevisionPolicy(), "1-30": RevisionPolicy()}
    d = run({"istio.io/rev": "stable"}, revisions=revisions, tags={"stable": "1-30"})
    assert d.inject and d.revision == "1-30"
    assert "stable" in d.reason


def test_a_default_tag_takes_over_the_default_webhooks():
    revisions = {"default": RevisionPolicy(), "1-30": RevisionPolicy()}
    d = run(ENABLED, revisions=revisions, tags={"default": "1-30"})
    assert d.revision == "1-30"


def test_unconfigured_revision_is_skipped_with_a_reason():
    d = run({"istio.io/rev": "canary"})
    assert not d.inject and "not configured" in d.reason


def test_unknown_namespace_says_so():
    d = run({}, source="unknown")
    assert not d.inject and "no Namespace object" in d.reason
