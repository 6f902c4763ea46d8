"""What the one-options refactor promised to keep: old spellings, old call shapes, safe infos."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from inspatio_gym import MultiAgentWorldEnv, WorldEnv, WorldVectorEnv
from inspatio_gym.tasks import Task

WORLD = "procedural:num_frames=6"


def test_a_failed_first_reset_leaves_the_env_unsteppable():
    env = WorldEnv(world=WORLD)
    with pytest.raises(ValueError, match="start_frame 99"):
        env.reset(options={"start_frame": 99})
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    obs, _ = env.reset(seed=0)  # a good reset afterwards works
    assert obs.shape == (64, 64, 3)


def test_deprecated_backend_keywords_at_their_defaults_ask_for_nothing():
    for kw in ({"device": "auto"}, {"compile": False}, {"checkpoint": None}, {"threads": None}):
        with pytest.warns(DeprecationWarning, match="backend_options"):
            WorldEnv(world=WORLD, **kw)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="apply to backend='star'"):
        WorldEnv(world=WORLD, device="cpu")


def test_the_deprecation_warning_names_the_callers_line():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        WorldEnv(world=WORLD, device="auto")  # this line
    assert [x.filename for x in w if x.category is DeprecationWarning] == [__file__]


def test_positional_arguments_keep_their_old_order():
    env = WorldEnv(None, WORLD, 16, 24)
    assert env.reset(seed=0)[0].shape == (24, 16, 3)
    with pytest.raises(TypeError, match="multiple values"):
        WorldEnv(None, WORLD, world=WORLD)


def test_infos_are_copies_and_collided_is_not_leashed():
    venv = WorldVectorEnv(num_envs=2, world=WORLD)
    _, info = venv.reset(seed=0)
    assert info["collided"] is not info["leashed"]
    info["pose"][:, :3, 3] += 12.0  # a wrapper editing its info changes nothing inside
    _, _, _, _, info2 = venv.step(np.array([5, 5]))  # turn in place
    assert not info2["collided"].any()
    assert np.abs(info2["pose"][:, :3, 3]).max() < 1.0


def test_max_cycles_can_be_changed_after_construction():
    env = MultiAgentWorldEnv(num_agents=2, world="procedural:num_frames=12", max_cycles=300)
    env.max_cycles = 3
    env.reset(seed=0)
    for _ in range(3):
        out = env.step({a: 0 for a in env.agents})
    assert env.agents == [] and all(out[3].values())


class _OldTask(Task):
    """A task written for the 0.1 API: step() returns its info."""

    def step(self, sessions, result, active):
        n = sessions.n
        return np.ones(n), np.zeros(n, bool), {"bonus": np.full(n, 2.0)}


def test_a_task_with_the_old_step_signature_still_runs_and_warns():
    env = WorldEnv(world=WORLD, task=_OldTask())
    env.reset(seed=0)
    with pytest.warns(DeprecationWarning, match="Task.info"):
        _, reward, _, _, info = env.step(1)
    assert reward == 1.0 and info["bonus"] == 2.0
    assert env.reset(seed=1)[1]["bonus"] == 2.0


def test_root_exposes_subpackages_and_env_ids():
    code = ("import inspatio_gym as ig; assert 'InspatioWorld-v0' in ig.ENV_IDS;"
            "assert ig.envs.world_env.WorldEnv is ig.WorldEnv")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_find_spec_probe_does_not_use_up_the_registration_hook():
    code = ("import inspatio_gym, importlib.util; importlib.util.find_spec('gymnasium');"
            "import gymnasium as gym; assert 'InspatioWorld-v0' in gym.registry")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
