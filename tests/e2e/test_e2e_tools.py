"""tests/tools.py: a missing host tool skips the test locally but fails it under CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import tools


def test_missing_tool_skips_locally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "TOOLS_BIN", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"run \.ci/install-tools"):
        tools.tool("kustomize")


def test_missing_tool_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "TOOLS_BIN", tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the end-to-end tests"):
        tools.tool("helm3")


def test_installed_tool_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "kubectl"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setattr(tools, "TOOLS_BIN", tmp_path)
    assert tools.tool("kubectl") == str(fake)
