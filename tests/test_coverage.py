"""The coverage floor: a move or turn that would leave the known world is blocked (issue 12.2)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import inspatio_gym  # noqa: F401  (registers the ids)
from inspatio_gym.control.coverage import CoverageEstimator, coarse_geometry
from inspatio_gym.control.limits import ControlConfig
from inspatio_gym.envs.world_env import WorldEnv
from inspatio_gym.render.warp import WarpRenderer

from .conftest import real_clip

GREY = np.array([0.299, 0.587, 0.114], np.float32)


def _turn(env, action, n):
    infos = []
    for _ in range(n):
        infos.append(env.step(action)[4])
    return infos


def test_min_coverage_is_a_validated_control_option():
    assert ControlConfig().min_coverage == 0.6
    for bad in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match="min_coverage"):
            ControlConfig.from_kwargs(min_coverage=bad)
    assert gym.make("InspatioWorld-v0", min_coverage=0.0).unwrapped.control.min_coverage == 0.0


def test_estimate_matches_the_render_and_is_cached(room_world):
    est = CoverageEstimator(room_world)
    assert coarse_geometry(room_world) is est.geo and max(est.geo.size) == 16
    rng = np.random.default_rng(0)
    c2w = np.repeat(room_world.c2w[:1], 16, 0)
    c2w[:, :3, 3] += rng.normal(0, 0.3 * room_world.scale, (16, 3))
    frames = rng.integers(0, room_world.num_frames, 16)
    true = WarpRenderer().render(room_world, c2w, frames).mask.reshape(16, -1).mean(1)
    got = est(c2w, frames)
    assert true.min() < 0.5 and true.max() > 0.9  # the poses span covered and uncovered views
    assert np.abs(got - true).max() < 0.06, (got, true)
    assert est(room_world.c2w[:1], np.array([0]))[0] == 1.0  # the source pose sees only the known world


def test_estimate_is_the_same_on_one_thread_or_split(room_world, monkeypatch):
    """A small batch stays on the calling thread (a hand-off would cost more than its
    share); a large one is split across threads: each lane's estimate is the same."""
    monkeypatch.setenv("INSPATIO_GYM_THREADS", "2")
    est = CoverageEstimator(room_world)
    assert est.min_lanes_per_thread > 2  # 16 px lanes are small: 16 of them stay on one thread
    n = 2 * est.min_lanes_per_thread + 3
    rng = np.random.default_rng(1)
    c2w = np.repeat(room_world.c2w[:1], n, 0)
    c2w[:, :3, 3] += rng.normal(0, 0.3 * room_world.scale, (n, 3))
    frames = rng.integers(0, room_world.num_frames, n)
    split = est(c2w, frames)
    alone = np.concatenate([est(c2w[i:i + 1], frames[i:i + 1]) for i in range(n)])
    assert np.array_equal(split, alone) and np.ptp(split) > 0.2

def test_floor_blocks_a_turn_and_reports_coverage(room_world):
    env = WorldEnv(world=room_world, time_mode="freeze")
    _, info = env.reset(seed=0)
    assert info["blocked"] == "" and info["coverage_estimate"] == 1.0
    infos = _turn(env, 5, 30)  # turn left, away from the room, for 90 degrees
    blocked = [i["blocked"] for i in infos]
    assert "coverage" in blocked and set(blocked) <= {"", "coverage"}
    first = blocked.index("coverage")
    # a blocked turn keeps the whole pose; the view stays above the floor (estimate) and covered
    np.testing.assert_array_equal(infos[first]["pose"], infos[first - 1]["pose"])
    assert all(i["coverage_estimate"] >= 0.6 for i in infos)
    assert min(i["coverage"] for i in infos) >= 0.5
    assert not any(i["collided"] or i["leashed"] for i in infos)


def test_min_coverage_zero_disables_the_floor(room_world):
    env = WorldEnv(world=room_world, time_mode="freeze", min_coverage=0.0)
    env.reset(seed=0)
    infos = _turn(env, 5, 30)
    assert all(i["blocked"] == "" for i in infos)
    assert min(i["coverage"] for i in infos) < 0.1  # the same turns leave the known world
    assert np.isnan(infos[-1]["coverage_estimate"])


def test_a_lane_below_the_floor_can_come_back(room_world):
    free = WorldEnv(world=room_world, time_mode="freeze", min_coverage=0.0)
    free.reset(seed=0)
    away = _turn(free, 5, 17)[-1]["pose"]  # 51 degrees left: coverage ~0.1
    env = WorldEnv(world=room_world, time_mode="freeze")
    env.reset(seed=0)
    _, _, _, _, info = env.step_pose(away)  # explicit poses are not limited
    assert info["blocked"] == "" and info["coverage_estimate"] < 0.2
    left = env.step(5)[4]  # further away: blocked, pose kept
    assert left["blocked"] == "coverage"
    np.testing.assert_allclose(left["pose"], away, atol=1e-12)
    back = _turn(env, 6, 17)  # turning back is allowed at every step, below the floor too
    assert all(i["blocked"] == "" for i in back)
    est = [info["coverage_estimate"]] + [i["coverage_estimate"] for i in back]
    assert est[8] > est[0] + 0.3 and est[-1] > 0.9
    np.testing.assert_allclose(back[-1]["pose"], env.core.anchor[0], atol=1e-9)  # all the way back
    # from there on the floor holds again: turning left stops at it
    assert min(i["coverage_estimate"] for i in _turn(env, 5, 30)) >= 0.6


def test_orbit_floor_blocks_the_whole_move(room_world):
    env = WorldEnv(world=room_world, time_mode="freeze", action_mode="orbit", leash=10.0, collision=False)
    env.reset(seed=0)
    infos = [env.step(np.array([0.0, 1.0, -1.0], np.float32))[4] for _ in range(40)]  # orbit left, back off
    blocked = [i["blocked"] for i in infos]
    assert "coverage" in blocked
    first = blocked.index("coverage")
    np.testing.assert_array_equal(infos[first]["pose"], infos[first - 1]["pose"])
    assert min(i["coverage"] for i in infos) >= 0.5


def test_seeded_walks_are_deterministic_and_vector_lanes_report_reasons():
    runs = []
    for _ in range(2):
        env = gym.make("InspatioWorld-v0", time_mode="loop")
        env.action_space.seed(0)
        obs, _ = env.reset(seed=0)
        out = [obs]
        reasons = []
        for _ in range(120):
            obs, _, _, _, info = env.step(env.action_space.sample())
            out.append(obs)
            reasons.append(info["blocked"])
        runs.append((np.stack(out), reasons))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] and "coverage" in runs[0][1]
    venv = gym.make_vec("InspatioWorld-v0", num_envs=3, vectorization_mode="vector_entry_point", time_mode="freeze")
    venv.reset(seed=0)
    for _ in range(12):
        _, _, _, _, info = venv.step(np.array([5, 5, 0]))
    assert info["blocked"].shape == (3,) and info["blocked"].dtype.kind == "U"
    assert info["blocked"][0] == "coverage" and info["blocked"][2] == ""
    assert np.all(info["coverage_estimate"] >= 0.6)


def _walk(min_coverage: float | None = None, **kw) -> tuple[float, int, dict]:
    """300 seeded random steps (stepping on past the end of the video, as in play mode the
    last frame stays): (min rendered coverage, flat frames, blocked counts)."""
    extra = {} if min_coverage is None else {"min_coverage": min_coverage}
    env = gym.make("InspatioWorld-v0", **kw, **extra)
    env.action_space.seed(0)
    env.reset(seed=0)
    cover, flat, reasons = [], 0, {}
    for _ in range(300):
        obs, _, _, _, info = env.step(env.action_space.sample())
        cover.append(info["coverage"])
        flat += int((obs.astype(np.float32) @ GREY).std() < 4)
        reasons[info["blocked"]] = reasons.get(info["blocked"], 0) + 1
    return min(cover), flat, reasons


def test_random_walk_on_the_default_world_stays_in_the_known_world():
    low, flat, reasons = _walk()
    assert low >= 0.5 and flat == 0, (low, flat, reasons)
    assert reasons.get("coverage", 0) > 0
    low_off, _, _ = _walk(0.0)
    assert low_off < 0.5  # without the floor the same walk leaves the known world


@pytest.mark.slow
@pytest.mark.parametrize("clip", ["cup_pour_static.mp4", "coffee_martini_static.mp4"])
def test_random_walk_on_static_clips_shows_no_flat_frame(clip, no_prior_warning):
    low, flat, reasons = _walk(video=str(real_clip(clip)))
    assert low >= 0.5 and flat == 0, (low, flat, reasons)


@pytest.mark.parametrize("mode,action", [("discrete", "turn_right"), ("discrete", "turn_left"),
                                         ("discrete", "look_up"), ("discrete", "backward"),
                                         ("orbit", (0.0, 0.0, -1.0)), ("orbit", (0.0, 1.0, -1.0))])
def test_a_camera_the_panning_video_leaves_is_carried(mode, action):
    """The default world's camera pans: a camera held at the floor would lose coverage with
    every frame (turn_right reached 0 within 35 steps, backing off an orbit 0.45, before the
    carry); it is carried with the source camera instead, and drawn towards it where that
    is not enough, in the free rig and the orbit alike."""
    from inspatio_gym.control.actions import DISCRETE_ACTIONS

    env = gym.make("InspatioWorld-v0", action_mode=mode)
    env.reset(seed=0)
    act = DISCRETE_ACTIONS.index(action) if mode == "discrete" else np.array(action, np.float32)
    infos = _turn(env, act, 47)  # the whole clip
    assert "coverage" in [i["blocked"] for i in infos]
    assert min(i["coverage"] for i in infos) >= 0.5, [round(float(i["coverage"]), 3) for i in infos]
    assert min(i["coverage_estimate"] for i in infos) >= 0.55
    # a blocked step still moves the camera: it is carried with the source camera, not left behind
    carried = [b for a, b in zip(infos, infos[1:]) if b["blocked"] == "coverage"
               and not np.array_equal(a["pose"], b["pose"])]
    assert carried


def test_carried_steps_are_deterministic_and_undone_with_a_failed_step():
    act = np.array([0.0, 1.0, -1.0], np.float32)
    runs, carry_steps = [], []
    for _ in range(2):
        env = gym.make("InspatioWorld-v0", action_mode="orbit")
        env.reset(seed=3)
        poses, steps = [], []
        for k in range(40):
            moved = env.unwrapped.core.rig.moved.copy()
            poses.append(env.step(act)[4]["pose"])
            if not np.array_equal(moved, env.unwrapped.core.rig.moved):
                steps.append(k)
        runs.append(np.stack(poses))
        carry_steps.append(steps)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert carry_steps[0] == carry_steps[1] and carry_steps[0]
    env = gym.make("InspatioWorld-v0", action_mode="orbit")  # fail the step that would carry
    env.reset(seed=3)
    for _ in range(carry_steps[0][0]):
        env.step(act)
    core = env.unwrapped.core
    before = core.rig.snapshot()
    observe = core.backend.observe

    def broken(*a, **k):
        raise RuntimeError("backend failed")

    core.backend.observe = broken
    with pytest.raises(RuntimeError, match="backend failed"):
        env.step(act)
    core.backend.observe = observe
    for x, y in zip(before, core.rig.snapshot()):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(env.step(act)[4]["pose"], runs[0][carry_steps[0][0]])


def test_no_carry_when_time_stands_still_or_the_floor_is_off(room_world):
    frozen = WorldEnv(world=room_world, time_mode="freeze")
    frozen.reset(seed=0)
    poses = [i["pose"] for i in _turn(frozen, 5, 40)]
    np.testing.assert_array_equal(poses[-1], poses[-2])  # blocked: the pose stands, nothing carries it
    off = gym.make("InspatioWorld-v0", min_coverage=0.0)
    off.reset(seed=0)
    infos = _turn(off, 6, 47)  # turn right
    assert min(i["coverage"] for i in infos) < 0.1  # without the floor a held turn leaves the world
