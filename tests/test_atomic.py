"""Issue 5 §6: nothing is lost when kinject writes files (`inject --in-place`, `uninject --in-place`, the
pre-commit hook). Writes go through a temporary file and a rename; any error leaves every file exactly as it
was (bytes, mode, modification time), and no temporary file is left behind.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from strategies import (assert_clean_failure, deployment, dump, dump_all, namespace, run_cli, run_inproc)

ENABLED_NS = namespace("apps", {"istio-injection": "enabled"})


def snapshot(paths: list[Path]) -> dict:
    return {p: (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns) for p in paths}


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".kinject-") or p.suffix == ".tmp")


def bundle(tmp_path: Path, bad: str | None = None) -> list[Path]:
    files = {
        "00-namespace.yaml": dump(ENABLED_NS),
        "10-web.yaml": "# the web tier\n" + dump(deployment(name="web")),
        "20-api.yaml": dump_all([deployment(name="api"), {"apiVersion": "v1", "kind": "Service",
                                                          "metadata": {"name": "api", "namespace": "apps"},
                                                          "spec": {"ports": [{"port": 80}]}}]),
        "30-worker.yaml": dump(deployment(name="worker")),
    }
    if bad is not None:
        files["25-bad.yaml"] = bad
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        paths.append(path)
    (tmp_path / "20-api.yaml").chmod(0o640)
    return sorted(paths)


BAD_FILES = {
    "invalid-yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\n",
    "invalid-annotation": dump(deployment(name="bad", annotations={"status.sidecar.istio.io/port": "99999"})),
    "not-utf8": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n",  # written as UTF-8, replaced below
    "duplicate-key": "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: a}\n",
    "alias-bomb": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx: &a [1, 1]\ny: [" + ", ".join(
        ["*a"] * 200) + "]\n",
    "no-kind": "apiVersion: v1\nmetadata: {name: a}\n",
    "scalar-document": "just text\n",
}


@pytest.mark.parametrize("bad", list(BAD_FILES))
def test_one_bad_file_leaves_every_file_as_it_was(tmp_path: Path, bad: str) -> None:
    paths = bundle(tmp_path, BAD_FILES[bad])
    if bad == "not-utf8":
        (tmp_path / "25-bad.yaml").write_bytes(BAD_FILES[bad].encode("latin-1"))
    before = snapshot(paths)
    run = run_inproc(["inject", "--in-place", *map(str, paths)])
    assert_clean_failure(run)
    assert snapshot(paths) == before, "a failed run must not touch any file"
    assert leftovers(tmp_path) == []


def test_success_rewrites_only_changed_files_and_keeps_their_mode(tmp_path: Path) -> None:
    paths = bundle(tmp_path)
    before = snapshot(paths)
    run = run_inproc(["inject", "--in-place", *map(str, paths)])
    assert run.code == 0, run.stderr
    after = snapshot(paths)
    ns = tmp_path / "00-namespace.yaml"
    assert after[ns] == before[ns], "an unchanged file is not rewritten (mtime kept)"
    for p in paths:
        if p != ns:
            assert b"istio-proxy" in after[p][0]
            assert after[p][1] == before[p][1], f"mode of {p.name} changed"
    assert stat.S_IMODE(after[tmp_path / "20-api.yaml"][1]) == 0o640
    assert (tmp_path / "10-web.yaml").read_text().startswith("# the web tier\n")
    assert leftovers(tmp_path) == []
    # idempotent: a second run changes nothing
    again = snapshot(paths)
    assert run_inproc(["inject", "--in-place", *map(str, paths)]).code == 0
    assert snapshot(paths) == again


def test_a_failure_while_writing_leaves_the_file_whole(tmp_path: Path, monkeypatch) -> None:
    """A crash or a full disk in the middle of writing a file: the original stays, no temp file remains."""
    paths = bundle(tmp_path)
    before = snapshot(paths)
    import kinject.files as files

    real_fdopen = os.fdopen

    class Exploding:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()
            return False

        def write(self, text):
            self.fh.write(text[: len(text) // 2])
            self.fh.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fdopen", lambda fd, *a, **k: Exploding(real_fdopen(fd, *a, **k)))
    run = run_inproc(["inject", "--in-place", *map(str, paths)])
    assert run.code != 0
    for p in paths:
        assert p.read_bytes() == before[p][0], f"{p.name} was damaged"
    assert leftovers(tmp_path) == []


def test_a_failure_on_the_second_file_leaves_the_first_unchanged(tmp_path: Path, monkeypatch) -> None:
    paths = bundle(tmp_path)
    before = snapshot(paths)
    import kinject.files as files

    calls = []
    real_replace = os.replace

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(30, "Read-only file system")
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", failing_replace)
    run = run_inproc(["inject", "--in-place", *map(str, paths)])
    assert_clean_failure(run, "Read-only file system")
    assert {p: p.read_bytes() for p in paths} == {p: before[p][0] for p in paths}
    assert leftovers(tmp_path) == []


def test_a_symlink_is_never_written_through(tmp_path: Path) -> None:
    """An untrusted repository may hold a symlink to a file elsewhere: kinject must not write outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "victim.yaml"
    target.write_text(dump(deployment(name="victim")))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "ns.yaml").write_text(dump(ENABLED_NS))
    link = repo / "link.yaml"
    link.symlink_to(target)
    original = target.read_bytes()
    run = run_cli(["inject", "--in-place", str(repo / "ns.yaml"), str(link)], timeout=60)
    assert run.code in (0, 1), run.stderr
    assert target.read_bytes() == original, "the file behind a symlink was rewritten"


@pytest.mark.parametrize("command", ["inject", "uninject"])
def test_in_place_with_a_bad_file_for_every_writing_command(tmp_path: Path, command: str) -> None:
    paths = bundle(tmp_path, BAD_FILES["invalid-yaml"])
    if command == "uninject":
        assert run_inproc(["inject", "--in-place", *[str(p) for p in paths if "bad" not in p.name]]).code == 0
    before = snapshot(paths)
    run = run_inproc([command, "--in-place", *map(str, paths)])
    assert_clean_failure(run)
    assert snapshot(paths) == before


def test_pre_commit_hook_with_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    from kinject.commands.precommit import run_inject_hook

    paths = bundle(tmp_path, BAD_FILES["invalid-annotation"])
    before = snapshot(paths)
    assert run_inject_hook([str(p) for p in paths]) == 1
    assert snapshot(paths) == before
    assert leftovers(tmp_path) == []
