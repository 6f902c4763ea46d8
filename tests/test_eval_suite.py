"""`inspatio-gym eval`: the camera-control protocol's arithmetic, the consistency metrics, the suite end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from inspatio_gym.eval.camera_control import camera_errors, normalise_trajectory
from inspatio_gym.eval.consistency import flicker, flow_cycle_epe, loop_psnr


def _orbit(n: int = 12) -> np.ndarray:
    out = np.tile(np.eye(4), (n, 1, 1))
    for i in range(n):
        out[i, :3, :3] = Rotation.from_euler("y", 3 * i, degrees=True).as_matrix()
        out[i, :3, 3] = [0.1 * i, 0.0, 0.02 * i]
    return out


def test_camera_errors_follow_the_protocol():
    gt = _orbit()
    zero = camera_errors(gt, gt)
    assert zero.roterr == pytest.approx(0, abs=1e-7) and zero.transerr == pytest.approx(0, abs=1e-9)
    # an SfM estimate lives in its own frame and scale: relative to frame 0 and normalised, it is the same
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", [20, -40, 5], degrees=True).as_matrix()
    T[:3, 3] = [3, -1, 2]
    moved = T @ gt
    moved[:, :3, 3] *= 7.0  # a similarity: the world moved, turned and scaled
    assert camera_errors(gt, moved).cammc == pytest.approx(0, abs=1e-6)
    np.testing.assert_allclose(normalise_trajectory(moved), normalise_trajectory(gt), atol=1e-9)
    # every frame after the first turned 2 deg further: RotErr = (n - 1) * 2 deg in radians
    off = gt.copy()
    for i in range(1, len(gt)):
        off[i, :3, :3] = gt[i, :3, :3] @ Rotation.from_euler("x", 2, degrees=True).as_matrix()
    e = camera_errors(gt, off)
    assert e.roterr == pytest.approx((len(gt) - 1) * np.radians(2), rel=1e-6)
    assert e.rot_deg_mean == pytest.approx(2 * (len(gt) - 1) / len(gt), rel=1e-6)
    sub = camera_errors(gt, off[[0, 3, 5]], registered=np.array([0, 3, 5]))
    assert sub.registered == 3 and sub.frames == len(gt)
    with pytest.raises(ValueError, match="frame 0"):
        camera_errors(gt, off[[3, 5]], registered=np.array([3, 5]))
    with pytest.raises(ValueError, match="expected gt"):
        camera_errors(gt, off[:4])


def test_consistency_metrics():
    rng = np.random.default_rng(0)
    base = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    import cv2

    base = cv2.GaussianBlur(base, (0, 0), 2)
    shifted = [np.roll(base, k, axis=1) for k in range(4)]  # a pan: a consistent flow
    noise = [(rng.random((64, 64, 3)) * 255).astype(np.uint8) for _ in range(4)]
    assert flow_cycle_epe(shifted) < 0.5 < flow_cycle_epe(noise)
    assert flicker([base] * 3) == 0.0 and flicker([base, np.zeros_like(base)]) > 50
    assert loop_psnr(base, base) == float("inf")
    with pytest.raises(ValueError, match="at least 2"):
        flow_cycle_epe([base])


def test_suite_end_to_end(tmp_path):
    from inspatio_gym.eval_suite import RESULT_KEYS, SuiteConfig, run_suite, write_report

    cfg = SuiteConfig(backends=("warp", "star"), seeds=(900_000,), walk_steps=6, traj_frames=24, traj_size=64)
    res, sheets = run_suite(cfg)
    paths = write_report(res, sheets, tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    for b in ("warp", "star"):
        assert set(RESULT_KEYS) <= set(data["backends"][b])
        assert data["backends"][b]["ssim"] > 0.3 and data["backends"][b]["steps_per_s"] > 0
    assert data["backends"]["warp"]["flicker"] == 0.0  # geometry alone does not move at a fixed pose
    cam = {who: rows[0] for who, rows in data["camera"].items()}
    for who, row in cam.items():  # registered and scored, or said why not and scored against the truth
        assert (row["registered"] > 0 and row["roterr"] is not None) or "sfm_error" in row
    assert data["original_realestate10k"] == {"roterr": 2.876, "transerr": 20.139}
    report = (tmp_path / "REPORT.md").read_text()
    assert "RotErr" in report and "| flicker (grey levels) |" in report
    assert {p.name for p in paths} >= {"results.json", "REPORT.md", "procedural.png"}
    # README's tables come from the results file, not typed
    from inspatio_gym.eval_suite import README_END, README_MARK, write_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_MARK}\nstale\n{README_END}\nafter\n")
    write_readme(data, readme)
    text = readme.read_text()
    assert "stale" not in text and "| RotErr (rad) |" in text and "2.876" in text and text.endswith("after\n")


def test_peers_table_is_generated_from_results(tmp_path):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("peers", Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py")
    peers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peers)
    res = {"inspatio WorldEnv (warp)": 1500.0, "MiniWorld-OneRoom-v0": 750.0}
    readme = tmp_path / "README.md"
    readme.write_text(f"a\n{peers.MARK}\nold\n{peers.END}\nb\n")
    peers.write_readme(res, readme)
    text = readme.read_text()
    assert "| MiniWorld-OneRoom-v0 | 750 | 2.00 |" in text and "old" not in text
