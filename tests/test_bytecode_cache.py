"""The compiled built-in templates kept across processes: same output, private directory only, never user code.
(The render entries beside them are tested in test_render_cache.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINJECT = str(Path(sys.executable).with_name("kinject"))
STDIN = (ROOT / "fixtures" / "kustomize-build" / "input.yaml").read_text()


def run(cache: Path | None, extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KINJECT_CACHE_DIR", "KINJECT_NO_CACHE")}
    env.update({"KINJECT_CACHE_DIR": str(cache)} if cache else {"KINJECT_NO_CACHE": "1"})
    env.update(extra or {})
    return subprocess.run([KINJECT, "fn"], input=STDIN, capture_output=True, text=True, env=env, timeout=60)


def test_cached_and_uncached_runs_write_the_same(tmp_path):
    cache = tmp_path / "cache"
    uncached = run(None)
    first, second = run(cache), run(cache)
    assert uncached.returncode == first.returncode == second.returncode == 0
    assert uncached.stdout == first.stdout == second.stdout
    names = [e.name for e in cache.iterdir()]
    assert any(n.startswith("template-") for n in names) and any(n.startswith("render-") for n in names)
    assert all(n.startswith(("template-", "render-")) for n in names)
    assert (cache.stat().st_mode & 0o777) == 0o700


def test_a_directory_others_can_write_is_not_used(tmp_path):
    cache = tmp_path / "shared"
    cache.mkdir(mode=0o777)
    os.chmod(cache, 0o777)
    assert run(cache).returncode == 0
    assert list(cache.iterdir()) == []


def test_a_corrupt_entry_is_recompiled(tmp_path):
    cache = tmp_path / "cache"
    good = run(cache)
    for entry in cache.iterdir():
        entry.write_bytes(b"not marshal data")
    again = run(cache)
    assert again.returncode == 0 and again.stdout == good.stdout


def test_user_templates_are_never_cached(tmp_path):
    cache = tmp_path / "cache"
    text = STDIN.replace(
        "  spec:\n    values:", "  spec:\n    templates:\n      mine: 'metadata: {labels: {mine: {{ \"yes\" }}}}'\n"
        "    defaultTemplates: [sidecar, mine]\n    values:"
    )
    proc = subprocess.run([KINJECT, "fn"], input=text, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KINJECT_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stderr
    assert "mine: 'yes'" in proc.stdout or 'mine: "yes"' in proc.stdout or "mine: yes" in proc.stdout
    assert len(list(cache.glob("template-*"))) == 1  # the built-in sidecar only
