"""Small helpers shared by the end-to-end tests: run a documented shell command, read YAML streams."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Iterable

import yaml

SIDECAR = "istio-proxy"


def sh(cmd: str, *, cwd: Path, env: dict[str, str], stdin: str | None = None,
       timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `cmd` exactly as written in README.md, through bash, as a user would paste it."""
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, input=stdin, text=True,
                          capture_output=True, timeout=timeout, check=False)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n--- stderr\n{proc.stderr}\n--- stdout\n{proc.stdout[:3000]}"
    return proc.stdout


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def find(objs: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for o in objs:
        if o.get("kind") == kind and (o.get("metadata") or {}).get("name") == name:
            return o
    raise AssertionError(f"{kind}/{name} not in output: {[(o.get('kind'), o.get('metadata', {}).get('name')) for o in objs]}")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def container_names(obj: dict[str, Any]) -> list[str]:
    spec = pod_spec(obj)
    return [c["name"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]


def injected(obj: dict[str, Any]) -> bool:
    """The sidecar is there (as a container, or as a native sidecar init container)."""
    return SIDECAR in container_names(obj)


def assert_injected(objs: list[dict[str, Any]], *names: str, kind: str = "Deployment") -> None:
    for name in names:
        obj = find(objs, kind, name)
        assert injected(obj), f"{kind}/{name} has no {SIDECAR}: {container_names(obj)}"
        # app containers are still there and come first among the regular containers
        assert pod_spec(obj)["containers"], obj


def assert_no_bookkeeping(text: str) -> None:
    """What kustomize strips must never leak (a function that re-adds it would corrupt the output)."""
    for key in ("internal.config.kubernetes.io/", "config.k8s.io/id", "kustomize.config.k8s.io/id"):
        assert key not in text, f"{key} leaked into the output"
