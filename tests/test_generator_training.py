"""The generator stages on the tiny config: teacher (synthetic and real), causal, distill.

One module-scoped chain trains each stage a few steps into a temporary folder, the way the
configs chain them; the tests check what each stage writes, resuming, DDP on 2 CPU processes
and that the distilled checkpoint drives backend="star" deterministically.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors import safe_open

from inspatio_gym.train import load_run_config, make_stage, train
from inspatio_gym.world.sources import procedural_world

from .torchrun_helper import run_torchrun

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "configs" / "train"


def _tiny(name: str, **kw):
    return replace(load_run_config(CFG / f"{name}_tiny.toml"), **kw)


def _seven_scenes_fixture(folder: Path) -> Path:
    """A procedural world written in 7-Scenes' layout: the format RealPairs reads real data in."""
    w = procedural_world(seed=5, path="dolly", num_frames=8, width=48, height=40)
    (folder / "frames").mkdir(parents=True)
    for i in range(w.num_frames):
        stem = folder / "frames" / f"frame-{i:06d}"
        cv2.imwrite(f"{stem}.color.png", w.frames[i][..., ::-1])
        cv2.imwrite(f"{stem}.depth.png", (w.depth[i] * 1000).astype(np.uint16))
        np.savetxt(f"{stem}.pose.txt", w.c2w[i])
    np.savetxt(folder / "camera-intrinsics.txt", w.K)
    return folder


def test_seven_scenes_world_reads_frames_depth_poses_and_intrinsics(tmp_path):
    from inspatio_gym.world import seven_scenes_world

    w = procedural_world(seed=5, path="dolly", num_frames=8, width=48, height=40)
    got = seven_scenes_world(_seven_scenes_fixture(tmp_path / "s"), 48, 40)
    np.testing.assert_array_equal(got.frames, w.frames)
    np.testing.assert_allclose(got.depth, w.depth, atol=1e-3)  # millimetre PNGs
    np.testing.assert_allclose(got.c2w, w.c2w, atol=1e-6)
    np.testing.assert_allclose(got.K, w.K, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        seven_scenes_world(tmp_path / "nowhere")


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    vae = _tiny("vae", out=str(root / "vae"))
    train(make_stage(vae), vae, vae.out, progress=False)
    v = str(root / "vae" / "vae.safetensors")
    syn = _tiny("teacher", vae=v, out=str(root / "teacher_syn"))
    s_syn = train(make_stage(syn), syn, syn.out, progress=False)
    real_src = _seven_scenes_fixture(root / "sevenscenes")
    real = _tiny("teacher", vae=v, real=[str(real_src)], real_fraction=1.0, init=str(root / "teacher_syn" / "teacher.safetensors"),
                 out=str(root / "teacher_real"))
    s_real = train(make_stage(real), real, real.out, progress=False)
    t_syn, t_real = str(root / "teacher_syn" / "teacher.safetensors"), str(root / "teacher_real" / "teacher.safetensors")
    causal = _tiny("causal", vae=v, teacher_synthetic=t_syn, init=t_syn, out=str(root / "causal"))
    s_causal = train(make_stage(causal), causal, causal.out, progress=False)
    distill = _tiny("distill", vae=v, init=str(root / "causal" / "star.safetensors"), teacher_synthetic=t_syn,
                    teacher_real=t_real, real=[str(real_src)], real_fraction=0.5, out=str(root / "distill"))
    s_distill = train(make_stage(distill), distill, distill.out, progress=False)
    refine = _tiny("refine", init=str(root / "distill" / "star.safetensors"), real=[str(real_src)], real_fraction=0.5,
                   out=str(root / "refine"))
    s_refine = train(make_stage(refine), refine, refine.out, progress=False)
    # The 2x sibling: a VAE aligned to the chain's, then the distilled generator refined with it.
    vae2 = _tiny("vae", model="tiny64", align=v, out=str(root / "vae64"))
    s_vae2 = train(make_stage(vae2), vae2, vae2.out, progress=False)
    refine2 = _tiny("refine", model="tiny64", init=str(root / "distill" / "star.safetensors"),
                    vae=str(root / "vae64" / "vae.safetensors"), out=str(root / "refine64"))
    s_refine2 = train(make_stage(refine2), refine2, refine2.out, progress=False)
    return {"root": root, "summaries": {"teacher_syn": s_syn, "teacher_real": s_real, "causal": s_causal,
                                        "distill": s_distill, "refine": s_refine, "refine64": s_refine2},
            "vae64": s_vae2, "distill_cfg": distill,
            "configs": {"teacher": real, "causal": causal, "distill": distill, "refine64": refine2}}


def test_every_stage_trains_and_exports(chain):
    root = chain["root"]
    for name, s in chain["summaries"].items():
        assert s["steps"] == (3 if name.startswith("refine") else 2), name
        assert all(np.isfinite(v) for v in s["last"].values()), (name, s["last"])
        assert (root / name / "samples" / f"{s['steps']:07d}.png").is_file(), name
        assert (root / name / "state.safetensors").is_file(), name
    with safe_open(str(root / "teacher_real" / "teacher.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert meta["teacher"] == "real" and meta["init"].endswith("teacher_syn/teacher.safetensors")
    last = chain["summaries"]["distill"]["last"]
    assert {"dmd_loss", "critic_flow_mse", "g_synthetic", "g_real", "exit_step"} <= set(last)
    assert "gt_mse" in chain["summaries"]["causal"]["last"]
    for name in ("causal", "distill"):
        with safe_open(str(root / name / "star.safetensors"), framework="pt") as f:
            assert f.metadata()["format"] == "inspatio_gym.star"


def test_distill_resume_equals_an_uninterrupted_run(chain, tmp_path):
    cfg = chain["distill_cfg"]
    train(make_stage(cfg), cfg, tmp_path / "a", progress=False)
    train(make_stage(cfg), cfg, tmp_path / "b", progress=False, stop_at=1)
    torch.manual_seed(999)
    train(make_stage(cfg), cfg, tmp_path / "b", progress=False)
    with safe_open(str(tmp_path / "a" / "state.safetensors"), framework="pt") as fa, \
            safe_open(str(tmp_path / "b" / "state.safetensors"), framework="pt") as fb:
        assert set(fa.keys()) == set(fb.keys())
        assert {"model.critic", "optim.critic"} <= {".".join(k.split(".")[:2]) for k in fa.keys()}  # critic resumes too
        for k in fa.keys():
            assert torch.equal(fa.get_tensor(k), fb.get_tensor(k)), k


def test_distilled_checkpoint_drives_the_env_deterministically(chain):
    import gymnasium as gym

    import inspatio_gym  # noqa: F401

    ckpt = str(chain["root"] / "distill" / "star.safetensors")

    def run(seed: int) -> list[np.ndarray]:
        env = gym.make("InspatioWorld-v0", backend="star", backend_options={"checkpoint": ckpt}, width=32, height=32)
        obs, _ = env.reset(seed=seed)
        frames = [obs["rgb"] if isinstance(obs, dict) else obs]
        for a in [0, 1, 2, 3]:
            obs, *_ = env.step(a)
            frames.append(obs["rgb"] if isinstance(obs, dict) else obs)
        env.close()
        return frames

    a, b = run(3), run(3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[-1].std() > 0  # a picture, not a constant


def test_stage_config_errors(tmp_path):
    with pytest.raises(ValueError, match="needs the vae stage's export"):
        make_stage(_tiny("teacher", vae=""))
    with pytest.raises(FileNotFoundError):
        make_stage(_tiny("teacher", vae=str(tmp_path / "none.safetensors")))
    with pytest.raises(ValueError, match="unknown jdmd teacher"):
        _tiny("distill", jdmd={"synthetic": 1.0, "fancy": 1.0})


@pytest.mark.parametrize("stage", ["teacher", "causal", "distill"])
def test_generator_stages_under_torchrun_two_processes(chain, tmp_path, stage):
    """The generator stages average gradients by hand (their modules run many passes per
    step): two gloo processes must end with identical replicas."""
    cfg = chain["configs"][stage]
    toml = tmp_path / f"{stage}.toml"
    lines = []
    for k, v in vars(cfg).items():
        if k == "out":
            v = str(tmp_path / "run")
        lines.append(f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}" if not isinstance(v, dict)
                     else f"{k} = {{ {', '.join(f'{a} = {b}' for a, b in v.items())} }}")
    toml.write_text("\n".join(lines) + "\n")
    run_torchrun(["train", stage, "--config", str(toml)], timeout=240)
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["world_size"] == 2 and s["ranks_in_sync"] is True and s["steps"] == cfg.steps


def test_ship_copies_the_last_export_and_writes_a_model_card_and_record(chain, tmp_path):
    import hashlib

    from inspatio_gym.train.ship import ship

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "refine_cpu").symlink_to(chain["root"] / "refine")
    (runs / "distill_cpu").symlink_to(chain["root"] / "distill")
    record = tmp_path / "training.json"  # an earlier session's run of the teacher stage, carried over
    record.write_text(json.dumps({"note": "n", "runs": {"teacher_real_cpu": {
        "stage": "teacher", "config": "configs/train/teacher_real_cpu.toml", "steps": 600, "batch": 8,
        "device": "cpu", "world_size": 1, "seconds": 168.0, "last": {"flow_mse": 0.2}}}}))
    dest = ship(runs, None, dest=tmp_path / "pkg" / "star_cpu.safetensors", record_path=record)
    assert dest.read_bytes() == (chain["root"] / "refine" / "star.safetensors").read_bytes()
    card = (tmp_path / "pkg" / "MODEL_CARD.md").read_text()
    assert hashlib.sha256(dest.read_bytes()).hexdigest() in card
    assert "| distill | `configs/train/distill_cpu.toml` | 2 | 2 | cpu x1 |" in card
    assert "| refine | `configs/train/refine_cpu.toml` | 3 | 4 | cpu x1 |" in card and "refiner 4 channels" in card
    assert "| teacher | `configs/train/teacher_real_cpu.toml` | 600 | 8 | cpu x1 | 2.8 min | flow_mse 0.2 |" in card
    assert "| vae_cpu | `configs/train/vae_cpu.toml` | not run" in card
    rec = json.loads(record.read_text())["runs"]
    assert set(rec) == {"teacher_real_cpu", "distill_cpu", "refine_cpu"} and rec["refine_cpu"]["steps"] == 3
    assert "star_cpu128" not in card  # no 128 px run: the card is the 64 px one's only
    (runs / "refine_cpu128").symlink_to(chain["root"] / "refine64")  # a 64x64 export where 128x128 belongs
    before = dest.stat().st_mtime_ns
    with pytest.raises(ValueError, match="makes 64x64 frames, not 128x128"):
        ship(runs, None, dest=tmp_path / "pkg" / "star_cpu.safetensors", record_path=record)
    assert dest.stat().st_mtime_ns == before and not (tmp_path / "pkg" / "star_cpu128.safetensors").exists()
    (runs / "refine_cpu128").unlink()
    (runs / "refine_cpu").unlink()
    (runs / "refine_cpu").mkdir()
    (runs / "refine_cpu" / "star.safetensors").write_bytes(b"broken")
    with pytest.raises(Exception, match="star.safetensors"):
        ship(runs, None, dest=tmp_path / "pkg" / "star_cpu.safetensors", record_path=record)
    assert dest.read_bytes() == (chain["root"] / "refine" / "star.safetensors").read_bytes()  # untouched


def test_loaded_models_must_match_the_run(chain, tmp_path):
    from inspatio_gym.model.config import GeneratorConfig

    t_syn = str(chain["root"] / "teacher_syn" / "teacher.safetensors")
    with pytest.raises(ValueError, match="teacher_syn/teacher.safetensors.*clips, clip_frames is 3"):
        make_stage(replace(chain["configs"]["causal"], clip_frames=3, teacher_synthetic=t_syn, init=""))
    with pytest.raises(ValueError, match="the VAE in .* has config"):
        make_stage(replace(chain["configs"]["distill"], model="cpu"))
    from inspatio_gym.train.pipeline.clip_model_file import load_clip_model, save_clip_model

    model, meta = load_clip_model(t_syn)
    other = tmp_path / "other.safetensors"
    cfg = GeneratorConfig.from_json(meta["config"])
    save_clip_model(other, model, replace(cfg, history=3), int(meta["frames"]), {})
    with pytest.raises(ValueError, match="other.safetensors' has model config"):
        make_stage(replace(chain["configs"]["distill"], teacher_synthetic=str(other)))


def test_aligned_vae_adopts_the_latent_space_it_is_aligned_to(chain):
    from inspatio_gym.model.checkpoint import load_checkpoint
    from inspatio_gym.train.data.latents import load_vae
    from inspatio_gym.train.stages.vae import AlignedVAE

    root = chain["root"]
    small, big = load_vae(root / "vae" / "vae.safetensors"), load_vae(root / "vae64" / "vae.safetensors")
    assert big.config.spatial_compression == 8 and small.config.spatial_compression == 4
    for k in ("latent_mean", "latent_std"):  # the adopted space's statistics, not refitted
        assert torch.equal(getattr(big, k), getattr(small, k))
    assert "latent_mse" in chain["vae64"]["last"] and np.isfinite(chain["vae64"]["last"]["latent_mse"])
    with safe_open(str(root / "vae64" / "vae.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert meta["align"].endswith("vae/vae.safetensors") and float(meta["psnr_aligned_db"]) > 0
    # The regression target: the small VAE's latents of the clip area-downsampled to its size.
    x = torch.rand(2, 2, 3, 64, 64) * 2 - 1
    z = AlignedVAE(load_vae(root / "vae64" / "vae.safetensors"), small).target_latents(x)
    with torch.no_grad():
        want = small.encode(torch.nn.functional.avg_pool2d(x.flatten(0, 1), 2).unflatten(0, (2, 2)))
    assert z.shape == (2, 2, 16, 8, 8) and torch.allclose(z, want, atol=1e-5)
    # The refined 2x checkpoint: the distilled DiT unchanged, the aligned VAE in place of the chain's.
    cfg, state, _ = load_checkpoint(root / "refine64" / "star.safetensors")
    _, dstate, _ = load_checkpoint(root / "distill" / "star.safetensors")
    assert (cfg.height, cfg.width, cfg.vae.spatial_compression) == (64, 64, 8) and cfg.refine == 4
    assert all(torch.equal(state[k], v) for k, v in dstate.items() if k.startswith("dit."))
    assert all(torch.equal(state[f"vae.{k}"], v) for k, v in big.state_dict().items())


def test_star_backend_without_a_checkpoint_takes_the_shipped_one_of_the_worlds_size(chain, monkeypatch):
    import gymnasium as gym

    import inspatio_gym  # noqa: F401
    from inspatio_gym.model import checkpoint as ckpt

    root = chain["root"]
    small, big = root / "refine" / "star.safetensors", root / "refine64" / "star.safetensors"
    monkeypatch.setattr(ckpt, "SHIPPED_CHECKPOINTS", {(32, 32): small, (64, 64): big})
    for size, want in ((32, small), (64, big), (32, small)):
        env = gym.make("InspatioWorld-v0", backend="star", width=size, height=size)
        obs, _ = env.reset(seed=1)
        for a in (0, 1, 2):
            obs, *_ = env.step(a)
        rgb = obs["rgb"] if isinstance(obs, dict) else obs
        backend = env.unwrapped.backend
        assert rgb.shape[:2] == (size, size) and backend.checkpoint == want and backend.cfg.height == size
        env.close()
    with pytest.raises(ValueError, match="world .* is 48x48.*shipped checkpoints make 32x32 or 64x64"):
        gym.make("InspatioWorld-v0", backend="star", width=48, height=48).reset(seed=0)
    with pytest.raises(ValueError, match="is 64x64; use width=32, height=32; the shipped"):  # explicit: no switch
        gym.make("InspatioWorld-v0", backend="star", backend_options={"checkpoint": str(small)},
                 width=64, height=64).reset(seed=0)


def test_aligned_vae_and_refine_swap_errors(chain, tmp_path):
    from safetensors.torch import load_file, save_file

    root = chain["root"]
    with pytest.raises(ValueError, match="align must be"):
        _tiny("vae", align=3)
    with pytest.raises(ValueError, match="align_weight"):
        _tiny("vae", align_weight=float("nan"))
    with pytest.raises(ValueError, match="compresses 8x, more than this one's 4x"):
        make_stage(_tiny("vae", align=str(root / "vae64" / "vae.safetensors")))
    src = root / "vae64" / "vae.safetensors"
    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(src))
    tensors["latent_mean"] = tensors["latent_mean"] + 1.0  # a VAE of another latent space
    other = tmp_path / "other_vae.safetensors"
    save_file(tensors, str(other), metadata=meta)
    with pytest.raises(ValueError, match="other_vae.safetensors' was not aligned to this generator's VAE"):
        make_stage(replace(chain["configs"]["refine64"], vae=str(other)))
    with pytest.raises(ValueError, match="this run refines 'tiny'"):  # a 64 px VAE for a 32 px run
        make_stage(replace(chain["configs"]["refine64"], model="tiny"))


def test_real_pairs_never_use_the_target_as_its_own_reference():
    from inspatio_gym.train.data.pairs import RealPairs

    w = procedural_world(seed=2, num_frames=9, width=32, height=32)
    rp = RealPairs([w], frames=3, ref_window=1, max_shift=6)
    rng = np.random.default_rng(0)
    for _ in range(40):
        target, _, _, ref, _ = rp.clip(w, rng)
        for t in range(3):  # frame t attends to reference entries t..t+2w: never its own frame
            assert not any(torch.equal(ref[i], target[t]) for i in range(t, t + 3))
