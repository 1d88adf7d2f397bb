"""A plain `pip install .` into a clean virtualenv gives a working `kinject` with its templates."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RESOURCE_LIST = """\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: p
    labels: {sidecar.istio.io/inject: "true"}
  spec:
    containers:
    - name: app
      image: nginx
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, timeout=300)
    return next(out.glob("kinject-*.whl"))


def test_the_wheel_ships_the_templates(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for template in ("sidecar", "gateway", "grpc-agent", "grpc-simple"):
        assert f"kinject/templates/{template}.yaml.j2" in names
    assert "kinject/cli.py" in names


def test_clean_venv_install_runs_the_function(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = env_dir / "bin" / "pip"
    subprocess.run([str(pip), "install", "-q", str(wheel)], check=True, timeout=600)
    proc = subprocess.run([str(env_dir / "bin" / "kinject")], input=RESOURCE_LIST, capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "name: istio-proxy" in proc.stdout
