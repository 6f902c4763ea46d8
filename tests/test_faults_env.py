"""Faults inside a step: a backend that raises leaves every env kind exactly as it was.

A step either happens completely or not at all: after the exception the cameras, the time,
the episode counts and the generator's sessions are those before the step, so the next step
gives what it would have given had the failed one never been called.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import inspatio_gym  # noqa: F401  (registers the envs)

WORLD = "procedural:num_frames=12"


class Boom(RuntimeError):
    pass


def _fail_once(core) -> callable:
    """Make the next step fail part way through; returns the undo.

    warp: the backend's observe raises after rendering. star: the VAE decoder raises after
    the DiT has run and drawn its noise. Two worlds: the second world's call raises after
    the first world's lanes went through the generator (and wrote their history)."""
    backend = core.backend
    if backend.name == "star":
        vae = backend.generator.vae
        real = vae.decode_step
        calls = {"n": 0}
        two_worlds = len(core.groups) > 1

        def decode_step(*a, **kw):
            calls["n"] += 1
            if not two_worlds or calls["n"] == 2:
                raise Boom("decoder out of memory")
            return real(*a, **kw)

        vae.decode_step = decode_step
        return lambda: setattr(vae, "decode_step", real)
    real_observe = backend.observe

    def observe(*a, **kw):
        real_observe(*a, **kw)
        raise Boom("lane 1's backend failed")

    backend.observe = observe
    return lambda: setattr(backend, "observe", real_observe)


def _state(core) -> tuple:
    return (core.rig.pose.copy(), core.k.copy(), core.start.copy(), core.coverage_estimate.copy())


def _same(a: tuple, b: tuple) -> bool:
    return all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


@pytest.mark.parametrize("backend, worlds", [("warp", [WORLD]), ("star", [WORLD]),
                                             ("star", [WORLD, "procedural:num_frames=12,seed=4"])])
def test_vector_step_that_raises_is_not_half_applied(backend, worlds):
    n, T = 3, 8
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 9, (T, n))
    kw = dict(num_envs=n, world=worlds, backend=backend, max_episode_steps=5)
    ref = gym.make_vec("InspatioWorld-v0", **kw)
    venv = gym.make_vec("InspatioWorld-v0", **kw)
    ref.reset(seed=3)
    venv.reset(seed=3)
    u = venv.unwrapped
    for t, a in enumerate(actions):
        want = ref.step(a)
        if t in (2, 5):  # t = 5: right after lanes ended at the time limit (an autoreset step)
            before, elapsed, flags = _state(u.core), u.elapsed.copy(), u.autoreset.copy()
            undo = _fail_once(u.core)
            with pytest.raises(Boom):
                venv.step(a)
            undo()
            assert _same(before, _state(u.core)) and np.array_equal(elapsed, u.elapsed)
            assert np.array_equal(flags, u.autoreset)
        got = venv.step(a)
        for w, g in zip(want[:4], got[:4]):
            np.testing.assert_array_equal(w, g)
        np.testing.assert_array_equal(want[4]["pose"], got[4]["pose"])


def test_single_env_step_that_raises_is_not_half_applied():
    ref = gym.make("InspatioWorld-v0", world=WORLD, backend="star")
    env = gym.make("InspatioWorld-v0", world=WORLD, backend="star")
    ref.reset(seed=1)
    env.reset(seed=1)
    core = env.unwrapped.core
    gen = core.backend.generator
    real = gen.vae.decode_step

    def failing(*a, **kw):  # the decoder fails after the DiT has run and drawn its noise
        raise Boom("decoder out of memory")

    for t in range(6):
        want = ref.step(t % 9)
        if t == 3:
            before = _state(core)
            hist = core.backend.sessions.history.k.clone()
            gen.vae.decode_step = failing
            with pytest.raises(Boom):
                env.step(t % 9)
            gen.vae.decode_step = real
            assert _same(before, _state(core))
            assert bool((hist == core.backend.sessions.history.k).all())
        got = env.step(t % 9)
        np.testing.assert_array_equal(want[0], got[0])
        assert want[1:4] == got[1:4]


def test_reset_that_raises_leaves_the_lane_rngs_as_they_were():
    ref = gym.make_vec("InspatioWorld-v0", num_envs=2, world=WORLD)
    venv = gym.make_vec("InspatioWorld-v0", num_envs=2, world=WORLD)
    ref.reset(seed=5)
    venv.reset(seed=5)
    mask = np.array([True, False])
    u = venv.unwrapped
    real = u.core.backend.reset
    u.core.backend.reset = lambda *a, **kw: (_ for _ in ()).throw(Boom("reset failed"))
    with pytest.raises(Boom):
        venv.reset(options={"reset_mask": mask})
    u.core.backend.reset = real
    want, _ = ref.reset(options={"reset_mask": mask})
    got, _ = venv.reset(options={"reset_mask": mask})
    np.testing.assert_array_equal(want, got)


def test_same_step_autoreset_that_raises_leaves_a_whole_step_and_a_pending_reset():
    """SAME_STEP: the step is committed before the ended lanes are reset. If that reset fails,
    the step stays whole and the lanes are reset first at the next step, with the same seeds:
    from there the run is the NEXT_STEP run (which resets at that step by design)."""
    n, limit = 3, 3
    actions = np.random.default_rng(1).integers(0, 9, (6, n))
    kw = dict(num_envs=n, world=WORLD, max_episode_steps=limit)
    ref = gym.make_vec("InspatioWorld-v0", autoreset_mode="next_step", **kw)
    venv = gym.make_vec("InspatioWorld-v0", autoreset_mode="same_step", **kw)
    ref.reset(seed=3)
    venv.reset(seed=3)
    u = venv.unwrapped
    for t, a in enumerate(actions):
        want = ref.step(a)
        if t == limit - 1:  # every lane ends here: SAME_STEP resets them inside this step
            real = u.core.backend.reset
            u.core.backend.reset = lambda *a, **kw: (_ for _ in ()).throw(Boom("reset failed"))
            with pytest.raises(Boom) as err:
                venv.step(a)
            u.core.backend.reset = real
            assert "next step() resets them first" in "".join(getattr(err.value, "__notes__", []))
            assert u.autoreset.all() and np.array_equal(u.elapsed, np.full(n, limit))
            np.testing.assert_array_equal(u.core.rig.pose, ref.unwrapped.core.rig.pose)
            continue
        got = venv.step(a)
        for w, g in zip(want[:4], got[:4]):
            np.testing.assert_array_equal(w, g)
        np.testing.assert_array_equal(want[4]["pose"], got[4]["pose"])


@pytest.mark.parametrize("pose, words", [
    (np.full((4, 4), np.nan), "pose 0 is [[nan"),
    (np.diag([2.0, 1.0, 1.0, 1.0]), "pose 0 is [[2.0"),
])
def test_step_pose_names_the_bad_pose(pose, words):
    env = gym.make("InspatioWorld-v0", world=WORLD)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"poses must .*" + words.replace("[", r"\[")):
        env.unwrapped.step_pose(pose)
    env.unwrapped.step_pose(np.eye(4))  # the failed calls changed nothing that blocks a good one
