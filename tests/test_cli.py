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
    ("train_ppo_pointnav.py", ["--obs", "rgb+goal", "--timesteps", "256", "--num-envs", "2", "--eval-episodes", "1",
                               "--world", "procedural:num_frames=8", "--max-steps", "10"], '"obs": "rgb+goal"'),
    ("multi_agent_explore.py", ["--agents", "2", "--timesteps", "64", "--episode", "8", "--eval-episodes", "2",
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


def test_every_option_explains_itself_and_shows_its_default():
    from inspatio_gym.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    for name, sub in subs.choices.items():
        text = sub.format_help()
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help text"
            if action.option_strings and action.default not in (None, False):
                assert f"(default: {action.default})" in " ".join(text.split()), (name, action.option_strings)


def test_help_imports_nothing_heavy():
    """--help answers at once: parsing imports neither torch, numpy, gymnasium nor numba."""
    code = ("import sys\nfrom inspatio_gym.cli import main\n"
            "for cmd in ([], ['rollout'], ['preprocess'], ['cache'], ['train']):\n"
            "    try:\n        main(cmd + ['--help'])\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'numpy', 'gymnasium', 'numba', 'cv2') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout[-300:] + proc.stderr


def test_cache_clear_asks_unless_yes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INSPATIO_GYM_CACHE", str(tmp_path))
    entry = tmp_path / "worlds" / "abc123"
    entry.mkdir(parents=True)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # no terminal: refuse, name the folder
    assert main(["cache", "clear"]) == 2
    err = capsys.readouterr().err
    assert "--yes" in err and str(tmp_path / "worlds") in err and entry.is_dir()

    class Tty:
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["cache", "clear"]) == 1 and entry.is_dir()
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["cache", "clear"]) == 0 and not entry.exists()
    assert str(tmp_path / "worlds") in capsys.readouterr().out


def test_ctrl_c_ends_with_one_line(monkeypatch, capsys):
    import inspatio_gym.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_rollout", interrupted)
    assert cli.main(["rollout"]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("interrupted") and "Traceback" not in err


def test_rollout_compare_runs_the_same_actions_on_each_backend(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["rollout", "--compare", "warp,star", "--steps", "6", "--out", str(out), "--world", "procedural:num_frames=8"]
    assert main(argv) == 0
    for name in ("rollout_warp.mp4", "rollout_star.mp4", "compare.mp4", "contact_sheet.png"):
        assert (out / name).is_file(), name
    assert _frames_in(out / "compare.mp4") == 7
    cap = cv2.VideoCapture(str(out / "compare.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 2 * cap.get(cv2.CAP_PROP_FRAME_HEIGHT)  # warp | star
    cap.release()
    printed = capsys.readouterr().out
    assert "warp:" in printed and "star:" in printed
    assert main(["rollout", "--compare", "warp,splat", "--out", str(out)]) == 2
    assert "'warp,splat'" in capsys.readouterr().err


def test_contact_sheet_labels_sit_under_their_tiles():
    frames = [np.full((16, 16, 3), 60, np.uint8) for _ in range(3)]
    plain = contact_sheet(frames, upscale=4)
    labelled = contact_sheet(frames, upscale=4, labels=[["step 0", ("blocked", (200, 30, 30))]] * 3, title="warp")
    assert labelled.shape[1] == plain.shape[1] and labelled.shape[0] > plain.shape[0]
    reddish = (labelled[..., 0] > 150) & (labelled[..., 1] < 120)
    assert reddish.any()  # the coloured line was drawn
    with pytest.raises(ValueError, match="2 label lists for 3 frames"):
        contact_sheet(frames, labels=[["a"], ["b"]])
