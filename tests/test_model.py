"""The STAR generator: shapes, causality, the cache against recomputation, determinism,
checkpoints, FLOP counts, and the env with backend="star"."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest
import torch

from inspatio_gym.model import (
    CONFIGS,
    CheckpointError,
    DiTConfig,
    GeneratorConfig,
    SamplerConfig,
    StarGenerator,
    VAEConfig,
    dit_flops_per_pass,
    load_checkpoint,
    save_checkpoint,
)

TINY = CONFIGS["tiny"]


def _gen(cfg: GeneratorConfig = TINY, seed: int = 0) -> StarGenerator:
    torch.manual_seed(seed)
    g = StarGenerator(cfg).eval()
    with torch.no_grad():  # random but non-trivial output head, so tests see the DiT's effect
        torch.nn.init.normal_(g.dit.head.weight, std=0.05)
    return g


def _frames(T: int, H: int, W: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (T, H, W, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _inputs(B: int, cfg: GeneratorConfig, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lane i's render and mask depend on (seed, i) only, not on the batch size."""
    renders, masks = [], []
    for i in range(B):
        g = torch.Generator().manual_seed(seed * 1000 + i)
        renders.append(torch.rand(3, cfg.height, cfg.width, generator=g) * 2 - 1)
        masks.append((torch.rand(1, cfg.height, cfg.width, generator=g) > 0.2).float())
    return torch.stack(renders), torch.stack(masks)


def _rollout(gen: StarGenerator, steps: int, B: int = 2, change_at: int | None = None, seeds=(1, 2)):
    cfg = gen.cfg
    world = gen.encode_reference(_frames(10, cfg.height, cfg.width))
    sess = gen.new_sessions(B)
    lanes = torch.arange(B)
    gen.reset_sessions(world, sess, lanes, torch.zeros(B, dtype=torch.long), torch.tensor(seeds[:B]))
    outs = []
    for k in range(steps):
        render, mask = _inputs(B, cfg, seed=k if change_at is None or k < change_at else 1000 + k)
        outs.append(gen.step(world, sess, lanes, torch.full((B,), k), render, mask))
    return torch.stack(outs)


def test_config_json_roundtrip_and_sigmas():
    for cfg in CONFIGS.values():
        assert GeneratorConfig.from_json(cfg.to_json()) == cfg
    assert SamplerConfig(steps=4).sigmas() == pytest.approx([1.0, 0.9375, 0.8333333, 0.625])
    assert SamplerConfig(steps=1).sigmas() == [1.0]
    with pytest.raises(ValueError, match="steps must be 1..4"):
        SamplerConfig(steps=5)
    with pytest.raises(ValueError, match="unknown dit config key"):
        GeneratorConfig.from_json(json.dumps({"dit": {"widht": 3}}))
    with pytest.raises(ValueError, match="divisible"):
        GeneratorConfig(height=36, width=32, vae=VAEConfig(channels=(8, 16)))


@pytest.mark.parametrize(
    "cfg",
    [
        TINY,
        CONFIGS["cpu"],
        dataclasses.replace(TINY, dit=DiTConfig(width=32, depth=1, heads=2, plucker=True)),
        GeneratorConfig(height=32, width=64, vae=VAEConfig(spatial_compression=8, channels=(8, 8, 16)),
                        dit=DiTConfig(width=32, depth=1, heads=2, patch=1), history=1, ref_window=0,
                        sampler=SamplerConfig(steps=1)),
    ],
)
def test_shapes_for_configs(cfg):
    gen = _gen(cfg)
    world = gen.encode_reference(_frames(4, cfg.height, cfg.width))
    h, w = cfg.latent_hw
    assert world.latents.shape == (4, cfg.vae.latent_channels, h, w)
    sess = gen.new_sessions(3)
    lanes = torch.tensor([0, 2])
    gen.reset_sessions(world, sess, lanes, torch.tensor([0, 3]), torch.tensor([5, 6]))
    render, mask = _inputs(2, cfg, 0)
    pl = torch.randn(2, 6, h, w) if cfg.dit.plucker else None
    out = gen.step(world, sess, lanes, torch.tensor([1, 3]), render, mask, pl)
    assert out.shape == (2, 3, cfg.height, cfg.width) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="render/mask"):
        gen.step(world, sess, lanes, torch.tensor([1, 3]), render[:, :, :8], mask, pl)


def test_slot_layout():
    for cfg in (TINY, dataclasses.replace(TINY, history=3, ref_window=2)):
        gen = StarGenerator(cfg)
        w, H = cfg.ref_window, cfg.history
        assert gen.ref_slots == list(range(2 * w + 1))
        for a in range(1, H + 1):  # a frame of age a sits a slots before the current frame
            assert gen.current_slot - gen.hist_slots[a - 1] == a
        assert max(gen.ref_slots) < min(gen.hist_slots) and gen.current_slot == cfg.slots - 1


def test_sampler_math_with_an_exact_velocity():
    from inspatio_gym.model.sampler import sample_flow

    x0 = torch.randn(3, 4, 5, 5)
    draws = []

    def noise():
        draws.append(torch.randn_like(x0))
        return draws[-1]

    seen = []

    def velocity(x, sigma):  # the exact v = eps - x0 for x = (1 - s) x0 + s eps
        seen.append((x.clone(), float(sigma[0])))
        return (x - x0) / sigma[:, None, None, None]

    cfg = SamplerConfig(steps=4)
    out = sample_flow(velocity, noise, cfg)
    assert torch.allclose(out, x0, atol=1e-5)
    assert len(draws) == 4  # the first noise and a fresh draw before each later step
    assert [s for _, s in seen] == pytest.approx([1.0, 0.9375, 0.8333333, 0.625])
    for (x, s), eps in zip(seen[1:], draws[1:]):  # re-noised to the next level with fresh noise
        assert torch.allclose(x, (1 - s) * x0 + s * eps, atol=1e-5)
    custom = SamplerConfig(step_list=(1.0, 0.5))
    assert custom.steps == 2 and custom.sigmas() == [1.0, 0.5]
    with pytest.raises(ValueError, match="step_list"):
        SamplerConfig(step_list=(0.5, 0.9))


def test_only_reference_frames_in_the_window_matter():
    gen = _gen()
    cfg = gen.cfg
    frames = _frames(12, cfg.height, cfg.width)

    def run(fr):
        world = gen.encode_reference(fr)
        sess = gen.new_sessions(1)
        gen.reset_sessions(world, sess, torch.tensor([0]), torch.tensor([5]), torch.tensor([1]))
        render, mask = _inputs(1, cfg, 0)
        return gen.step(world, sess, torch.tensor([0]), torch.tensor([5]), render, mask)

    base = run(frames)
    far = frames.clone()
    far[9] = 255 - far[9]  # outside the window 4..6 (and not the start frame)
    near = frames.clone()
    near[6] = 255 - near[6]  # inside it
    assert torch.equal(run(far), base)
    assert not torch.allclose(run(near), base, atol=1e-4)


def test_lanes_at_different_times_share_the_reference_cache_without_eviction_errors():
    gen = _gen()
    world = gen.encode_reference(_frames(64, 32, 32))
    B = 16
    sess = gen.new_sessions(B)
    lanes = torch.arange(B)
    frames = torch.arange(B) * 4  # 47 distinct window frames: more than the store has rows
    gen.reset_sessions(world, sess, lanes, frames, torch.arange(B))
    render, mask = _inputs(B, gen.cfg, 0)
    out = gen.step(world, sess, lanes, frames, render, mask)
    need = len(set(world.window(frames).flatten().tolist()))
    assert need > 32 and world.capacity >= need and out.shape[0] == B
    # a lane that walked far ahead, then lanes far apart: the LRU must not evict a needed frame
    w2 = gen.encode_reference(_frames(40, 32, 32))
    w2.capacity = 12
    s2 = gen.new_sessions(2)
    gen.reset_sessions(w2, s2, torch.arange(2), torch.tensor([1, 1]), torch.tensor([0, 1]))
    r2, m2 = _inputs(2, gen.cfg, 1)
    for f in range(1, 31):
        gen.step(w2, s2, torch.tensor([0]), torch.tensor([f]), r2[:1], m2[:1])
    gen.step(w2, s2, torch.arange(2), torch.tensor([21, 38]), r2, m2)  # 20-22 are least recently used
    # and the result for a lane does not depend on lane order or on the other lanes' times
    g3 = _gen()
    w3 = g3.encode_reference(_frames(20, 32, 32))
    s3 = g3.new_sessions(3)
    g3.reset_sessions(w3, s3, torch.tensor([2, 0, 1]), torch.tensor([3, 9, 15]), torch.tensor([7, 8, 9]))
    r3, m3 = _inputs(3, g3.cfg, 2)
    both = g3.step(w3, s3, torch.tensor([2, 0, 1]), torch.tensor([3, 9, 15]), r3, m3)
    g4 = _gen()
    w4 = g4.encode_reference(_frames(20, 32, 32))
    s4 = g4.new_sessions(1)
    g4.reset_sessions(w4, s4, torch.tensor([0]), torch.tensor([9]), torch.tensor([8]))
    alone = g4.step(w4, s4, torch.tensor([0]), torch.tensor([9]), r3[1:2], m3[1:2])
    assert torch.allclose(both[1:2], alone, atol=1e-5)


def test_causality_a_later_input_never_changes_an_earlier_output():
    gen = _gen()
    base = _rollout(gen, 5)
    changed = _rollout(gen, 5, change_at=3)
    assert torch.equal(base[:3], changed[:3])
    assert not torch.allclose(base[3], changed[3])
    assert not torch.allclose(base[4], changed[4])  # and it propagates through the history


def test_cached_step_equals_recomputation_without_cache():
    """The velocity at step n with the cache equals the one with every K/V recomputed."""
    gen = _gen()
    cfg = gen.cfg
    dit = gen.dit
    frames_u8 = _frames(10, cfg.height, cfg.width)
    world = gen.encode_reference(frames_u8)
    sess = gen.new_sessions(1)
    lane = torch.tensor([0])
    gen.reset_sessions(world, sess, lane, torch.tensor([2]), torch.tensor([9]))
    latents = [world.latents[2:3]]  # what each history entry holds, oldest first: start frame
    times = [2, 3, 4, 5]
    for f in times[:-1]:
        render, mask = _inputs(1, cfg, f)
        gen.step(world, sess, lane, torch.tensor([f]), render, mask)
        latents.append(gen.last_latent)

    # recompute from latents only: reference context passes, then write passes in order
    def ref_kv(f: int, slot: int) -> list:
        _, kv = dit(dit.frame_input(world.latents[f : f + 1]), torch.zeros(1), 0, None)
        return [(dit.rope.apply(k, slot), v) for k, v in kv]

    def context(f: int, hist: list[list]) -> list:
        idx = [min(max(f + o, 0), 9) for o in range(-cfg.ref_window, cfg.ref_window + 1)]
        refs = [ref_kv(i, s) for s, i in enumerate(idx)]
        ctx = []
        for layer in range(cfg.dit.depth):
            ks = [r[layer][0] for r in refs]
            vs = [r[layer][1] for r in refs]
            for age, h in zip(range(len(hist), 0, -1), hist):  # oldest first
                ks.append(dit.rope.apply(h[layer][0], gen.hist_slots[age - 1]))
                vs.append(h[layer][1])
            ctx.append((torch.cat(ks, 2), torch.cat(vs, 2)))
        return ctx

    with torch.no_grad():
        _, start_kv = dit(dit.frame_input(latents[0]), torch.zeros(1), 0, None)
        hist = [start_kv] * cfg.history
        for f, z in zip(times[:-1], latents[1:]):
            _, kv = dit(dit.frame_input(z), torch.zeros(1), gen.current_slot, context(f, hist))
            hist = (hist + [kv])[-cfg.history:]
        x = torch.randn(1, cfg.vae.latent_channels, *cfg.latent_hw)
        render, mask = _inputs(1, cfg, 99)
        z_r, _ = gen.vae.encode_step(render, None)
        m = torch.nn.functional.adaptive_avg_pool2d(mask, cfg.latent_hw)
        inp = dit.frame_input(x, m, z_r)
        sig = torch.full((1,), 0.8)
        gen._ensure_reference(world, torch.tensor([times[-1]]))
        cached = dit(inp, sig, gen.current_slot, gen._context(world, sess, lane, torch.tensor([times[-1]])),
                     ctx_tail=True)[0]
        fresh = dit(inp, sig, gen.current_slot, context(times[-1], hist))[0]
    assert torch.allclose(cached, fresh, atol=1e-5), (cached - fresh).abs().max()
    without_history = dit(inp, sig, gen.current_slot, context(times[-1], [start_kv] * cfg.history))[0]
    assert not torch.allclose(cached, without_history, atol=1e-4)  # the history matters


def test_determinism_and_lane_independence():
    a = _rollout(_gen(), 3)
    b = _rollout(_gen(), 3)
    assert torch.equal(a, b)
    c = _rollout(_gen(), 3, seeds=(7, 2))
    assert not torch.allclose(a[:, 0], c[:, 0]) and torch.allclose(a[:, 1], c[:, 1], atol=1e-5)
    single = _rollout(_gen(), 3, B=1)
    assert torch.allclose(single[:, 0], a[:, 0], atol=1e-5)  # a lane does not depend on its batch


def test_reference_kv_is_lazy_and_bounded():
    gen = _gen()
    world = gen.encode_reference(_frames(40, 32, 32))
    world.capacity = 12
    sess = gen.new_sessions(1)
    gen.reset_sessions(world, sess, torch.tensor([0]), torch.tensor([0]), torch.tensor([0]))
    assert world.computed == 0  # nothing before the first step
    render, mask = _inputs(1, gen.cfg, 0)
    for f in range(30):
        gen.step(world, sess, torch.tensor([0]), torch.tensor([f]), render, mask)
    assert world.computed == 31  # each frame once (the window reaches one frame ahead)
    assert len(world.rows) == 12


def test_checkpoint_roundtrip_and_errors(tmp_path):
    gen = _gen()
    p = save_checkpoint(tmp_path / "g.safetensors", gen, gen.cfg, extra={"steps": 3})
    cfg, state, meta = load_checkpoint(p)
    assert cfg == gen.cfg and meta["steps"] == "3"
    for k, v in gen.state_dict().items():
        assert torch.equal(state[k], v), k
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_checkpoint(tmp_path / "nope.safetensors")
    data = p.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "cut.safetensors")
    import pickle

    (tmp_path / "pickle.safetensors").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="not a safetensors"):
        load_checkpoint(tmp_path / "pickle.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not an inspatio_gym generator"):
        load_checkpoint(tmp_path / "other.safetensors")
    other = dataclasses.replace(gen.cfg, dit=dataclasses.replace(gen.cfg.dit, width=64))
    sd = {k: v.contiguous() for k, v in gen.state_dict().items()}
    save_file(sd, str(tmp_path / "mism.safetensors"),
              metadata={"format": "inspatio_gym.star", "format_version": "1", "config": other.to_json()})
    with pytest.raises(CheckpointError, match="tensor .* the config expects"):
        load_checkpoint(tmp_path / "mism.safetensors")
    with pytest.raises(CheckpointError, match="expected"):
        load_checkpoint(p, expect=other)
    sd["vae.latent_mean"] = torch.full_like(sd["vae.latent_mean"], float("nan"))
    save_file(sd, str(tmp_path / "nan.safetensors"),
              metadata={"format": "inspatio_gym.star", "format_version": "1", "config": gen.cfg.to_json()})
    with pytest.raises(CheckpointError, match="non-finite"):
        load_checkpoint(tmp_path / "nan.safetensors")
    good_meta = {"format": "inspatio_gym.star", "format_version": "1", "config": gen.cfg.to_json()}
    sd = {k: v.contiguous() for k, v in gen.state_dict().items()}
    cases = {
        "dtype": ({**sd, "vae.latent_mean": sd["vae.latent_mean"].double()}, good_meta, "float64"),
        "missing": ({k: v for k, v in sd.items() if k != "vae.latent_std"}, good_meta, "missing tensors"),
        "extra": ({**sd, "bogus": torch.zeros(1)}, good_meta, "unexpected"),
        "version": (sd, {**good_meta, "format_version": "9"}, "format version '9'"),
        "noconfig": (sd, {k: v for k, v in good_meta.items() if k != "config"}, "no model config"),
        "badjson": (sd, {**good_meta, "config": "{not json"}, "invalid config"),
        "badtype": (sd, {**good_meta, "config": json.dumps({"vae": []})}, "invalid config"),
        "floatsize": (sd, {**good_meta, "config": json.dumps({"height": 32.0, "width": 32})}, "invalid config"),
    }
    for name, (tensors, meta, msg) in cases.items():
        f = tmp_path / f"{name}.safetensors"
        save_file(tensors, str(f), metadata=meta)
        with pytest.raises(CheckpointError, match=msg):
            load_checkpoint(f)
    hdr = json.dumps([1, 2]).encode()
    (tmp_path / "list.safetensors").write_bytes(len(hdr).to_bytes(8, "little") + hdr)
    with pytest.raises(CheckpointError, match="not an object"):
        load_checkpoint(tmp_path / "list.safetensors")
    (tmp_path / "huge.safetensors").write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "huge.safetensors")
    with pytest.raises(ValueError, match="may not overwrite"):
        save_checkpoint(tmp_path / "x.safetensors", gen, gen.cfg, extra={"config": "{}"})
    assert sorted(x.name for x in tmp_path.iterdir() if x.name.startswith(".")) == []


def test_flop_count_matches_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    cfg = CONFIGS["cpu"]
    gen = StarGenerator(cfg).eval()
    B, ctx_frames = 2, 2 * cfg.ref_window + 1 + cfg.history
    N, D, H = cfg.tokens_per_frame, cfg.dit.width, cfg.dit.heads
    ctx = [(torch.randn(B, H, ctx_frames * N, D // H), torch.randn(B, H, ctx_frames * N, D // H))] * cfg.dit.depth
    inp = gen.dit.frame_input(torch.randn(B, 16, *cfg.latent_hw))
    from torch.nn.attention import SDPBackend, sdpa_kernel

    # the math kernel decomposes attention into matmuls the counter sees (CPU SDPA is not counted)
    with FlopCounterMode(display=False) as fc, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        gen.dit(inp, torch.rand(B), 0, ctx)
    counted = fc.get_total_flops() / B
    ours = dit_flops_per_pass(cfg, ctx_frames)
    assert abs(counted - ours) / counted < 0.05, (counted, ours)


def test_env_with_star_backend_passes_check_env():
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    from inspatio_gym.backends.star import UntrainedModelWarning

    with pytest.warns(UntrainedModelWarning, match="RANDOMLY INITIALISED"):
        env = gym.make("InspatioWorld-v0", backend="star", width=32, height=32, world="procedural:num_frames=6",
                       backend_options={"config": "tiny", "threads": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)
    obs, info = env.reset(seed=0)
    assert obs.shape == (32, 32, 3)
    obs2, *_ = env.step(1)
    env2 = gym.make("InspatioWorld-v0", backend="star", width=32, height=32, world="procedural:num_frames=6",
                    backend_options={"config": "tiny"})
    o, _ = env2.reset(seed=0)
    np.testing.assert_array_equal(o, obs)
    np.testing.assert_array_equal(env2.step(1)[0], obs2)
    with pytest.raises(ValueError, match="makes 32x32 frames"):
        gym.make("InspatioWorld-v0", backend="star", backend_options={"config": "tiny"}).reset()
    with pytest.raises(ValueError, match="apply to backend='star'"):
        gym.make("InspatioWorld-v0", backend_options={"checkpoint": "x.safetensors"})


def test_top_level_backend_keywords_still_work_with_a_deprecation_warning(tmp_path):
    """checkpoint=, device=, threads=, compile= moved into backend_options; the old spelling
    works for this release, warns naming the new one, and means the same."""
    import gymnasium as gym

    gen = _gen()
    p = save_checkpoint(tmp_path / "g.safetensors", gen, gen.cfg)
    kw = {"backend": "star", "width": 32, "height": 32, "world": "procedural:num_frames=6"}
    with pytest.warns(DeprecationWarning, match=r"checkpoint= is deprecated; pass backend_options=\{'checkpoint'"):
        old = gym.make("InspatioWorld-v0", checkpoint=str(p), device="cpu", **kw)
    new = gym.make("InspatioWorld-v0", backend_options={"checkpoint": str(p), "device": "cpu"}, **kw)
    np.testing.assert_array_equal(old.reset(seed=3)[0], new.reset(seed=3)[0])
    np.testing.assert_array_equal(old.step(1)[0], new.step(1)[0])
    with pytest.warns(DeprecationWarning):  # the same value twice is no conflict
        gym.make("InspatioWorld-v0", checkpoint=str(p), backend_options={"checkpoint": str(p)}, **kw)
    with pytest.raises(ValueError, match="checkpoint given twice with different values"):
        with pytest.warns(DeprecationWarning):
            gym.make("InspatioWorld-v0", checkpoint=str(p), backend_options={"checkpoint": "other.safetensors"}, **kw)
    with pytest.raises(ValueError, match="apply to backend='star'"):
        with pytest.warns(DeprecationWarning):
            gym.make("InspatioWorld-v0", threads=1)


def test_env_loads_a_checkpoint(tmp_path):
    import gymnasium as gym

    gen = _gen()
    p = save_checkpoint(tmp_path / "g.safetensors", gen, gen.cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a trained checkpoint raises no untrained warning
        env = gym.make("InspatioWorld-v0", backend="star", backend_options={"checkpoint": str(p)}, width=32,
                       height=32, world="procedural:num_frames=6")
    obs, _ = env.reset(seed=1)
    assert obs.shape == (32, 32, 3)
    (tmp_path / "bad.safetensors").write_bytes(b"garbage!" * 10)
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        gym.make("InspatioWorld-v0", backend="star", backend_options={"checkpoint": str(tmp_path / "bad.safetensors")})
