"""README.md as a user pastes it: every python block runs, in order, as one notebook.

The blocks name a user's video as ``clip.mp4``; the test runs them in a folder where that
name is a short real video file: a procedural room filmed along a dolly path, written as
MP4 and read back through the same decoder, SfM and depth a user's clip goes through.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    import torch

    from inspatio_gym.io.media import write_mp4
    from inspatio_gym.world import procedural_world

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        world = procedural_world(seed=5, path="dolly", num_frames=24, width=160, height=120)
    finally:
        torch.set_num_threads(threads)
    folder = tmp_path_factory.mktemp("user")
    write_mp4(folder / "clip.mp4", list(world.frames), fps=12)
    return folder


def test_readme_has_the_blocks_a_user_meets_first():
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 2
    assert 'gym.make("InspatioWorld-v0")' in blocks[0] and "PPO" in blocks[1]


@pytest.mark.slow  # the SB3 block trains (a smoke run of 1,024 steps)
def test_every_python_block_runs_as_pasted(clip_folder, monkeypatch, capsys):
    monkeypatch.chdir(clip_folder)
    namespace: dict = {"__name__": "__readme__"}
    times = []
    for k, block in enumerate(python_blocks(README.read_text())):
        t0 = time.perf_counter()
        try:
            exec(compile(block, f"README.md python block {k + 1}", "exec"), namespace)
        except Exception as e:  # name the block: the traceback's file name says which
            raise AssertionError(f"README python block {k + 1} fails as pasted:\n{block}") from e
        times.append(time.perf_counter() - t0)
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\nREADME block seconds:", [round(t, 1) for t in times])
    assert "(64, 64, 3)" in out  # the first block's print
    assert re.search(r"^sfm \[\[", out, flags=re.M), out  # the clip was reconstructed by SfM, its pose printed
