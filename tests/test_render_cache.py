"""The render cache on disk: built-in renders kept across runs as checked data, so warm runs skip Jinja2.

What must hold: a render read back from disk is exactly the render it stands for; an entry that is not
exactly what kinject writes is rendered again; a changed configuration never reads another's entry; user
templates never reach the disk; the directory stays bounded; and a warm process never imports Jinja2.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from kinject import inject as inject_module
from kinject import render
from kinject.inject import inject_pod
from kinject.model import PodTemplate, Workload
from kinject.profile import build_profile
from kinject.render import RenderCache

from test_engine_render import HUB, SPIRE, UncachedRenderer, _outcome, random_pod

ROOT = Path(__file__).resolve().parent.parent
KINJECT = str(Path(sys.executable).with_name("kinject"))
BOOKINFO = ROOT / "fixtures" / "bookinfo"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("KINJECT_CACHE_DIR", str(directory))
    return directory


def _pod() -> tuple[PodTemplate, Workload]:
    spec = {"containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}]}]}
    return PodTemplate({"labels": {"app": "web"}}, spec), Workload("apps/v1", "Deployment", "web", "shop")


def _builtin_renders_forbidden(real):
    def render_text(name, source, context, sandboxed):
        if not sandboxed:  # user templates are rendered every time, in the sandbox
            raise AssertionError(f"rendered built-in template {name!r} instead of reading the disk cache")
        return real(name, source, context, sandboxed)
    return render_text


@pytest.mark.parametrize("values", [{}, {"global": {"network": "n0", "mountMtlsCerts": True},
                                         "pilot": {"cni": {"enabled": True}}}])
def test_renders_read_back_from_disk_equal_uncached_renders(values, cache_dir, monkeypatch) -> None:
    profile = build_profile(values_layers=[HUB, values], templates={"spire": SPIRE})
    rng = random.Random(5)
    pods = [random_pod(rng) for _ in range(200)]
    monkeypatch.setattr(inject_module, "RENDER_CACHE", RenderCache())
    first = [_outcome(pod, workload, profile) for pod, workload in pods]
    entries = sorted(cache_dir.glob("render-*.json"))
    assert entries, "nothing was written to the disk cache"

    # A new process has an empty memory cache: every render must now come from disk, none from Jinja2.
    warm = RenderCache()
    monkeypatch.setattr(inject_module, "RENDER_CACHE", warm)
    monkeypatch.setattr(render, "render_text", _builtin_renders_forbidden(render.render_text))
    from_disk = [_outcome(pod, workload, profile) for pod, workload in pods]
    monkeypatch.undo()

    monkeypatch.setattr(inject_module, "RENDER_CACHE", UncachedRenderer())
    uncached = [_outcome(pod, workload, profile) for pod, workload in pods]
    for i, (a, b, c) in enumerate(zip(first, from_disk, uncached)):
        assert a == c, f"pod {i}: first render differs from an uncached render"
        assert b == c, f"pod {i}: render read from disk differs from an uncached render"


def _entry(cache_dir: Path) -> tuple[Path, dict]:
    (path,) = cache_dir.glob("render-*.json")
    return path, json.loads(path.read_text())


def _tamper_garbage(entry: dict) -> object:
    return "not json"


def _tamper_key(entry: dict) -> dict:
    return {**entry, "key": entry["key"].replace('"sidecar"', '"gateway"')}


def _tamper_fill_path(entry: dict) -> dict:
    return {**entry, "fills": [[["spec", "nowhere", 0], ["", "owner", ""]], *entry["fills"]]}


def _tamper_fill_field(entry: dict) -> dict:
    (path, parts), *rest = entry["fills"]
    return {**entry, "fills": [[path, [parts[0], "not_an_identity_field", *parts[2:]]], *rest]}


def _tamper_top_level(entry: dict) -> dict:
    return {**entry, "tree": {**entry["tree"], "status": {"phase": "Running"}}}


def _tamper_plain(entry: dict) -> dict:
    return {**entry, "plain": not entry["plain"]}


def _tamper_shape(entry: dict) -> dict:
    return {**entry, "tree": ["metadata", "spec"]}


@pytest.mark.parametrize("tamper", [_tamper_garbage, _tamper_key, _tamper_fill_path, _tamper_fill_field,
                                    _tamper_top_level, _tamper_plain, _tamper_shape])
def test_an_entry_that_is_not_what_kinject_writes_is_rendered_again(tamper, cache_dir, monkeypatch) -> None:
    profile = build_profile(values_layers=[HUB])
    pod, workload = _pod()
    monkeypatch.setattr(inject_module, "RENDER_CACHE", RenderCache())
    expected = _outcome(pod, workload, profile)
    path, entry = _entry(cache_dir)
    changed = tamper(entry)
    path.write_text(changed if isinstance(changed, str) else json.dumps(changed))

    calls = []
    real = render.render_text
    monkeypatch.setattr(render, "render_text", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    monkeypatch.setattr(inject_module, "RENDER_CACHE", RenderCache())
    assert _outcome(pod, workload, profile) == expected
    assert calls == ["sidecar"], "the tampered entry was used instead of a fresh render"


def test_a_changed_configuration_never_reads_another_configurations_entry(cache_dir, monkeypatch) -> None:
    pod, workload = _pod()
    monkeypatch.setattr(inject_module, "RENDER_CACHE", RenderCache())
    old = inject_pod(pod, workload, build_profile(values_layers=[HUB]))
    new_profile = build_profile(values_layers=[HUB, {"global": {"tag": "1.31.0"}}])
    monkeypatch.setattr(inject_module, "RENDER_CACHE", RenderCache())
    new = inject_pod(pod, workload, new_profile)
    images = {c["image"] for c in new.spec.get("initContainers", []) + new.spec["containers"]
              if c["name"].startswith("istio-")}
    assert images == {"registry.istio.io/testing/proxyv2:1.31.0"}
    assert new.spec != old.spec
    assert len(list(cache_dir.glob("render-*.json"))) == 2


def test_the_directory_is_bounded(cache_dir, monkeypatch) -> None:
    cache_dir.mkdir(mode=0o700)
    for i in range(render.DISK_CACHE_SIZE):
        (cache_dir / f"render-old{i}.json").write_text("{}")
    (cache_dir / "template-keep.marshal").write_bytes(b"")
    monkeypatch.setattr(inject_module, "RENDER_CACHE", RenderCache())
    pod, workload = _pod()
    inject_pod(pod, workload, build_profile(values_layers=[HUB]))
    names = sorted(p.name for p in cache_dir.iterdir())
    assert len([n for n in names if n.startswith("render-")]) == 1 and "render-old0.json" not in names
    assert "template-keep.marshal" in names  # compiled templates are not this cache's to drop


def _run(args: list[str], stdin: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, env=env, timeout=120, check=True)


# Runs the function in-process and reports whether it had to import Jinja2.
# (hashlib would load OpenSSL, ~3.5 MB: kinject hashes through digest.py instead.)
PROBE = ("import sys; from kinject import krm; out = krm.run(sys.stdin.read()); sys.stdout.write(out.stdout); "
         "sys.stderr.write(('jinja2' in sys.modules and 'JINJA2' or 'NO-JINJA2') + "
         "('hashlib' in sys.modules and ' HASHLIB' or ''))")


def test_a_warm_run_writes_the_same_and_never_imports_jinja2(tmp_path) -> None:
    stdin = (ROOT / "fixtures" / "kustomize-build" / "input.yaml").read_text()
    env = {**os.environ, "KINJECT_CACHE_DIR": str(tmp_path / "cache")}
    cold = _run([sys.executable, "-c", PROBE], stdin, env)
    warm = _run([sys.executable, "-c", PROBE], stdin, env)
    uncached = _run([KINJECT, "fn"], stdin, {**env, "KINJECT_NO_CACHE": "1"})
    assert (cold.stderr, warm.stderr) == ("JINJA2 HASHLIB", "NO-JINJA2")  # Jinja2 itself imports hashlib
    assert cold.stdout == warm.stdout == uncached.stdout
    assert "istio-proxy" in warm.stdout


def test_user_templates_never_reach_the_disk(tmp_path) -> None:
    stdin = (ROOT / "fixtures" / "kustomize-build" / "input.yaml").read_text().replace(
        "  spec:\n    values:", "  spec:\n    templates:\n      mine: 'metadata: {labels: {mine: {{ \"yes\" }}}}'\n"
        "    defaultTemplates: [sidecar, mine]\n    values:")
    env = {**os.environ, "KINJECT_CACHE_DIR": str(tmp_path / "cache")}
    first, second = _run([sys.executable, "-c", PROBE], stdin, env), _run([sys.executable, "-c", PROBE], stdin, env)
    assert first.stdout == second.stdout and "mine: 'yes'" in second.stdout
    assert second.stderr.startswith("JINJA2")  # the user template is rendered in the sandbox every time
    keys = [json.loads(p.read_text())["key"] for p in (tmp_path / "cache").glob("render-*.json")]
    assert len(keys) == 1 and '"sidecar"' in keys[0] and '"mine"' not in keys[0]


def test_digests_are_sha256() -> None:
    """digest.py gives the same digests as hashlib (they are stored in undo records and cache keys)."""
    import hashlib

    from kinject.digest import sha256_hex

    for text in ["", "kinject", "é" * 1000, "\x00\ud7ff"]:
        assert sha256_hex(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert sha256_hex(text, 16) == hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
