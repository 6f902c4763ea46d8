"""The inspatio-gym command and the media writers."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from inspatio_gym.cli import main
from inspatio_gym.io.media import contact_sheet, write_mp4, write_png


def _frames_in(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_rollout_scripted_writes_mp4_and_contact_sheet(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["rollout", "--steps", "12", "--out", str(out), "--debug", "--world", "procedural:num_frames=8"]) == 0
    printed = capsys.readouterr().out
    assert str(out / "rollout.mp4") in printed and str(out / "contact_sheet.png") in printed
    assert _frames_in(out / "rollout.mp4") == 13  # reset + 12 steps
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] > 64
    assert _frames_in(out / "debug.mp4") == 13
    assert not [p for p in os.listdir(out) if p.startswith(".")]  # no temporary leftovers


def test_rollout_trajectory_runs_to_the_end_of_the_video(tmp_path):
    out = tmp_path / "traj"
    assert main(["rollout", "--traj", "zoom_out_in", "--out", str(out), "--world", "procedural:num_frames=10"]) == 0
    assert _frames_in(out / "rollout.mp4") == 10  # one pose per source frame


def test_rollout_random_policy_on_a_video(tmp_path):
    clip = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 40))
    for i in range(6):
        w.write(np.full((40, 48, 3), 20 * i, np.uint8))
    w.release()
    out = tmp_path / "vid"
    with pytest.warns(UserWarning, match="plane prior"):
        assert main(["rollout", "--video", str(clip), "--policy", "random", "--steps", "5", "--out", str(out)]) == 0
    assert _frames_in(out / "rollout.mp4") == 6


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["rollout", "--video", str(tmp_path / "nope.mp4"), "--out", str(tmp_path)]) == 2
    assert "nope.mp4" in capsys.readouterr().err
    assert main(["rollout", "--traj", "no_such_traj", "--out", str(tmp_path)]) == 2
    assert "no_such_traj" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "inspatio_gym", "rollout", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--traj" in proc.stdout


def test_media_writers_are_atomic(tmp_path):
    frames = [np.full((16, 16, 3), i * 10, np.uint8) for i in range(5)]
    p = write_mp4(tmp_path / "a.mp4", frames, fps=5, upscale=2)
    assert _frames_in(p) == 5
    with pytest.raises(ValueError, match="frame of shape"):
        write_mp4(tmp_path / "b.mp4", frames + [np.zeros((8, 8, 3), np.uint8)], fps=5)
    assert not (tmp_path / "b.mp4").exists()
    assert sorted(os.listdir(tmp_path)) == ["a.mp4"]  # the failed write left nothing behind
    sheet = contact_sheet(frames, columns=2, upscale=1, gap=1)
    assert sheet.shape == (3 * 17 + 1, 2 * 17 + 1, 3)
    write_png(tmp_path / "s.png", sheet)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "s.png"))[..., ::-1], sheet)


def test_example_scripted_rollout_runs(tmp_path):
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "scripted_rollout.py"
    proc = subprocess.run([sys.executable, str(script), "--size", "32", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert _frames_in(tmp_path / "rollout.mp4") == 48  # one frame per source frame of the default world


@pytest.mark.parametrize("script,args,expect", [
    ("vector_throughput.py", ["--envs", "1,2", "--seconds", "0.3"], "num_envs   2"),
    ("train_ppo_pointnav.py", ["--timesteps", "256", "--num-envs", "2", "--eval-episodes", "1",
                               "--world", "procedural:num_frames=8", "--max-steps", "10"], "ppo_success"),
    ("multi_agent_explore.py", ["--agents", "2", "--timesteps", "64", "--episode", "8",
                                "--world", "procedural:num_frames=8"], "explored_trained"),
])
def test_examples_run(tmp_path, script, args, expect):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / script
    if script != "vector_throughput.py":
        args = args + ["--out", str(tmp_path)]
    proc = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert expect in proc.stdout
