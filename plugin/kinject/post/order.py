"""Container ordering after injection (Istio reorderPod, reference §2.5)."""

from __future__ import annotations

from .overrides import INIT, PROXY, VALIDATION, find

CORE_DUMP = "enable-core-dump"


def _move(containers: list, name: str, first: bool) -> list:
    index = next((i for i, c in enumerate(containers) if isinstance(c, dict) and c.get("name") == name), None)
    if index is None:
        return containers
    container = containers[index]
    rest = containers[:index] + containers[index + 1:]
    return [container, *rest] if first else [*rest, container]


def reorder_pod(spec: dict, hold_application: bool) -> None:
    """Native: istio-init|istio-validation, istio-proxy, enable-core-dump, then user inits. Classic: the proxy
    last in containers (first when the app waits for it), istio-validation first and istio-init last."""
    if "containers" in spec:
        spec["containers"] = _move(spec["containers"] or [], PROXY, first=hold_application)
    inits = spec.get("initContainers")
    if not inits:
        return
    if find(PROXY, inits) is not None:
        for name in (CORE_DUMP, PROXY, VALIDATION, INIT):
            inits = _move(inits, name, first=True)
    else:
        inits = _move(inits, VALIDATION, first=True)
        inits = _move(inits, INIT, first=False)
        inits = _move(inits, CORE_DUMP, first=False)
    spec["initContainers"] = inits


def move_proxy_to_init(spec: dict) -> None:
    """Native move: a user istio-proxy declared in containers becomes the last init container."""
    containers = spec.get("containers") or []
    proxy = find(PROXY, containers)
    if proxy is None:
        return
    spec["containers"] = [c for c in containers if c is not proxy]
    spec["initContainers"] = [*(spec.get("initContainers") or []), proxy]
