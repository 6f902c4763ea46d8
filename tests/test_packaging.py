"""The package works from a wheel: specs and data travel with it, registration works elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (whl,) = out.glob("inspatio_gym-*.whl")
    return whl


def test_wheel_contains_specs_and_trajectories(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "inspatio_gym/_specs/inspatio_world_v0.toml" in names
    assert "inspatio_gym/data/trajectories/zoom_out_in.txt" in names
    assert "inspatio_gym/viewer/static/index.html" in names  # the web viewer's page
    assert any(n.endswith("entry_points.txt") for n in names)


def test_installed_wheel_registers_envs_from_another_directory(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True)
    code = (
        "import gymnasium as gym, inspatio_gym, pathlib;"
        "assert 'site' in pathlib.Path(inspatio_gym.__file__).parts, inspatio_gym.__file__;"
        "env = gym.make('InspatioWorld-v0', world='procedural:num_frames=4');"
        "obs, info = env.reset(seed=0); print(obs.shape)"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "(64, 64, 3)" in proc.stdout
