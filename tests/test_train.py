"""Training: the loop, resuming, DDP on 2 CPU processes, the VAE stage, data and configs."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from inspatio_gym.model.checkpoint import CheckpointError
from inspatio_gym.train import HELD_OUT_SEEDS, ProceduralClips, RunConfig, VAEStage, load_run_config, train
from inspatio_gym.train.config import CausalConfig, DistillConfig, TeacherConfig, VaeConfig, stage_config
from inspatio_gym.train.data.seeds import TRAIN_SEEDS, batch_rng
from inspatio_gym.train.pipeline.vae_loss import vae_loss
from inspatio_gym.train.trainer.optim import optimizer_step
from inspatio_gym.train.trainer.resume import check_same_run
from inspatio_gym.train.trainer.state import load_train_state

from .torchrun_helper import run_torchrun

ROOT = Path(__file__).resolve().parents[1]
TINY = load_run_config(ROOT / "configs" / "train" / "vae_tiny.toml")


def _weights(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def test_vae_stage_runs_and_writes_everything(tmp_path):
    s = train(VAEStage(TINY), TINY, tmp_path, progress=False)
    assert s["steps"] == TINY.steps and np.isfinite(s["last"]["loss"])
    for name in ("state.safetensors", "vae.safetensors", "summary.json", "config.json"):
        assert (tmp_path / name).is_file(), name
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png")) == ["0000002.png", "0000004.png"]
    assert [h["step"] for h in json.loads((tmp_path / "summary.json").read_text())["history"]] == [1, 2, 3, 4]
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))  # TensorBoard scalars and images
    with safe_open(str(tmp_path / "vae.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "inspatio_gym.vae" and float(meta["psnr_db"]) > 0


def test_resumed_run_continues_from_the_same_state(tmp_path):
    """4 steps straight equal 2 steps, a new process-like restart, then 2 more: bit for bit."""
    cfg = replace(TINY, save_every=1)
    train(VAEStage(cfg), cfg, tmp_path / "a", progress=False)
    train(VAEStage(cfg), cfg, tmp_path / "b", progress=False, stop_at=2)
    assert not (tmp_path / "b" / "vae.safetensors").exists()  # not finished: nothing exported
    torch.manual_seed(12345)  # a fresh process would start from other RNG state
    s = train(VAEStage(cfg), cfg, tmp_path / "b", progress=False)
    assert s["steps"] == 4
    a, b = _weights(tmp_path / "a" / "state.safetensors"), _weights(tmp_path / "b" / "state.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "resume diverged"
    hist = json.loads((tmp_path / "b" / "summary.json").read_text())["history"]
    assert [h["step"] for h in hist] == [1, 2, 3, 4]


def test_training_state_errors(tmp_path):
    train(VAEStage(TINY), TINY, tmp_path, progress=False)
    stage = VAEStage(TINY)
    p = tmp_path / "state.safetensors"
    data = p.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        load_train_state(tmp_path / "cut.safetensors", stage.modules(), stage.optimizers())
    other = VAEStage(replace(TINY, model="cpu"))  # different widths
    with pytest.raises(CheckpointError, match="does not fit module 'student'"):
        load_train_state(p, other.modules(), other.optimizers())
    with pytest.raises(CheckpointError, match="not a training state"):
        load_train_state(tmp_path / "vae.safetensors", stage.modules(), stage.optimizers())


def test_ddp_two_cpu_processes_gloo(tmp_path):
    """torchrun with 2 processes on the gloo backend: the unchanged command trains, the
    replicas stay identical, rank 0 writes the state and the export."""
    run_torchrun(["train", "--config", str(ROOT / "configs" / "train" / "vae_tiny.toml"), "--out", str(tmp_path)],
                 timeout=180)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["world_size"] == 2 and s["ranks_in_sync"] is True and s["steps"] == TINY.steps
    assert (tmp_path / "vae.safetensors").is_file()


def test_vae_loss_terms():
    x = torch.rand(2, 2, 3, 8, 8) * 2 - 1
    loss, sc = vae_loss(x, x, {"l1": 1.0, "mse": 1.0, "grad": 1.0})
    assert float(loss) == 0.0 and sc["l1"] == sc["mse"] == sc["grad"] == 0.0
    y = x + 0.1  # a constant offset: L1 0.1, MSE 0.01, no gradient change
    loss, sc = vae_loss(y, x, {"l1": 1.0, "mse": 2.0, "grad": 5.0})
    assert sc["l1"] == pytest.approx(0.1, rel=1e-5) and sc["mse"] == pytest.approx(0.01, rel=1e-4)
    assert sc["grad"] == pytest.approx(0.0, abs=1e-6) and float(loss) == pytest.approx(0.12, rel=1e-4)
    with pytest.raises(ValueError, match="unknown VAE loss term"):
        vae_loss(x, x, {"perceptual": 1.0})


def test_data_is_seeded_and_never_uses_held_out_worlds():
    data = ProceduralClips(size=16, frames=2)
    a, b = data.sample(2, batch_rng(0, 5)), data.sample(2, batch_rng(0, 5))
    assert a.shape == (2, 2, 3, 16, 16) and torch.equal(a, b) and a.min() >= -1 and a.max() <= 1
    assert not torch.equal(a, data.sample(2, batch_rng(0, 6)))
    assert not torch.equal(a, data.sample(2, batch_rng(0, 5, rank=1)))
    assert not set(HELD_OUT_SEEDS) & set(TRAIN_SEEDS)
    seen = {key[0] for key in data._scenes}
    assert seen and not seen & set(HELD_OUT_SEEDS)


def test_config_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        load_run_config(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text('stage = "vae"\nstepz = 3\n')
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['stepz'\]"):
        load_run_config(tmp_path / "bad.toml")
    (tmp_path / "broken.toml").write_text("steps = = 3")
    with pytest.raises(ValueError, match="cannot parse"):
        load_run_config(tmp_path / "broken.toml")
    for kw, msg in (({"steps": 0}, "steps must be"), ({"lr": -1.0}, "lr must be"), ({"stage": "gan"}, "unknown stage"),
                    ({"ema": 1.0}, "ema must be")):
        with pytest.raises(ValueError, match=msg):
            RunConfig(**kw)
    with pytest.raises(ValueError, match="unknown model config"):
        VAEStage(replace(TINY, model="huge"))


def test_initial_weights_follow_the_seed_and_restart_and_config_checks(tmp_path):
    torch.manual_seed(1)
    a = VAEStage(TINY).model.state_dict()
    torch.manual_seed(2)  # another process would start from other global RNG state
    b = VAEStage(TINY).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = VAEStage(replace(TINY, seed=7)).model.state_dict()
    assert not all(torch.equal(a[k], c[k]) for k in a)
    train(VAEStage(TINY), TINY, tmp_path, progress=False, stop_at=2)
    changed = replace(TINY, lr=5e-3)
    with pytest.raises(ValueError, match=r"different run \(lr: 0.001 -> 0.005\)"):
        train(VAEStage(changed), changed, tmp_path, progress=False)
    longer = replace(TINY, steps=6)  # running longer is the same run
    assert train(VAEStage(longer), longer, tmp_path, progress=False)["steps"] == 6
    s = train(VAEStage(changed), changed, tmp_path, progress=False, resume=False, stop_at=1)
    assert s["steps"] == 1 and [h["step"] for h in s["history"]] == [1]  # started over


#: The defaults of the one flat RunConfig every stage shared before the per-stage split, and
#: what each TOML in configs/train/ set on top of them then (computed from that code, kept here
#: as plain values so that neither can drift with the code under test).
FLAT_DEFAULTS = {
    "stage": "vae", "model": "cpu", "steps": 1000, "batch": 8, "lr": 0.001, "weight_decay": 0.0,
    "betas": [0.9, 0.999], "ema": 0.0, "seed": 0, "size": 64, "clip_frames": 3, "log_every": 20,
    "save_every": 200, "sample_every": 200, "out": "runs/vae", "loss": {"l1": 1.0, "mse": 1.0, "grad": 0.5},
    "vae": "", "real": [], "real_fraction": 0.0, "sigma_shift": 3.0, "grad_clip": 1.0, "init": "", "ode_steps": 8,
    "data_clips": 0, "gt_weight": 0.0, "teacher_synthetic": "", "teacher_real": "",
    "jdmd": {"synthetic": 1.0, "real": 0.5}, "critic_steps": 2, "critic_lr": 0.0,
}
_REAL = ["../shared/data/real/7scenes_redkitchen", "../shared/data/real/*.mp4", "../shared/data/real/*.avi"]
#: Since issue 13 the real data includes the multi-view scenes outside HELD_OUT_SCENES.
_MV = ["../shared/data/real_multiview/7scenes_redkitchen_f400", "../shared/data/real_multiview/dtu_scan65",
       "../shared/data/real_multiview/ingp_fox", "../shared/data/real_multiview/britishmuseum_ethiopian_head"]
_REAL_MV = _MV + _REAL
#: Fields newer than the split, at their defaults.
NEWER = {"align": "", "align_weight": 1.0}
_VAE, _T_SYN = "runs/vae_cpu/vae.safetensors", "runs/teacher_synthetic_cpu/teacher.safetensors"
_DISTILL = {"stage": "distill", "steps": 200, "lr": 5e-05, "ema": 0.99, "log_every": 5, "save_every": 25,
            "sample_every": 50, "vae": _VAE, "real": _REAL_MV, "real_fraction": 0.25,
            "init": "runs/causal_cpu/star.safetensors", "data_clips": 4096, "teacher_synthetic": _T_SYN,
            "teacher_real": "runs/teacher_real_cpu/teacher.safetensors", "critic_lr": 0.0001}
TODAY = {
    "vae_cpu.toml": {"steps": 3000, "lr": 0.002, "ema": 0.999, "log_every": 25, "save_every": 250,
                     "sample_every": 250, "out": "runs/vae_cpu", "real_fraction": 0.5,
                     "real": _REAL_MV + ["../shared/data/real_multiview/video_cotracker_apple/video.mp4"]},
    "teacher_synthetic_cpu.toml": {"stage": "teacher", "steps": 2500, "lr": 0.0008, "betas": [0.9, 0.99],
                                   "ema": 0.995, "log_every": 25, "save_every": 100, "sample_every": 200,
                                   "out": "runs/teacher_synthetic_cpu", "vae": _VAE, "data_clips": 4096},
    "teacher_real_cpu.toml": {"stage": "teacher", "steps": 800, "lr": 0.0002, "betas": [0.9, 0.99], "ema": 0.99,
                              "log_every": 10, "save_every": 50, "sample_every": 100, "out": "runs/teacher_real_cpu",
                              "vae": _VAE, "real": _REAL_MV, "real_fraction": 1.0, "init": _T_SYN, "data_clips": 4096},
    "causal_cpu.toml": {"stage": "causal", "steps": 300, "lr": 0.0003, "betas": [0.9, 0.99], "ema": 0.99,
                        "log_every": 10, "save_every": 50, "sample_every": 100, "out": "runs/causal_cpu", "vae": _VAE,
                        "init": _T_SYN, "data_clips": 4096, "gt_weight": 1.0, "teacher_synthetic": _T_SYN},
    "distill_cpu.toml": {**_DISTILL, "out": "runs/distill_cpu"},
    "distill_synthetic_only_cpu.toml": {**_DISTILL, "out": "runs/distill_synthetic_only_cpu",
                                        "jdmd": {"synthetic": 1.0, "real": 0.0}},
}


@pytest.mark.parametrize("name", sorted(TODAY))
def test_the_shipped_configs_mean_what_they_meant_before_the_split(name):
    """Each *_cpu.toml, read over its stage's defaults, is the config it was as a full flat
    file: every field of its stage the same, the size the model's; the fields it no longer
    has are other stages' (the stage never read them)."""
    cfg = load_run_config(ROOT / "configs" / "train" / name)
    before = {**FLAT_DEFAULTS, **NEWER, **TODAY[name]}
    now = json.loads(json.dumps(asdict(cfg)))
    assert now == {k: before[k] for k in now}
    assert cfg.size == before["size"]
    assert type(cfg) is {"vae": VaeConfig, "teacher": TeacherConfig, "causal": CausalConfig,
                         "distill": DistillConfig}[cfg.stage]


def test_a_key_of_another_stage_is_an_error_naming_it_and_the_stage(tmp_path):
    p = tmp_path / "mixed.toml"
    p.write_text('stage = "vae"\njdmd = { synthetic = 1.0 }\nsigma_shift = 2.0\n')
    with pytest.raises(ValueError, match=r"key 'jdmd' in training config .*mixed.toml' does not belong to stage "
                                         r"'vae' \(it configures 'distill'\).*key 'sigma_shift'.*stage 'vae' takes"):
        load_run_config(p)
    with pytest.raises(ValueError, match="'size' .* not a setting: the frame size is the model config's"):
        stage_config({"stage": "teacher", "model": "tiny", "size": 32})
    with pytest.raises(ValueError, match="unknown stage 'gan'"):
        stage_config({"stage": "gan"})
    with pytest.raises(TypeError):  # in code too, a stage's config has only its own fields
        replace(TINY, jdmd={"synthetic": 1.0})
    with pytest.raises(ValueError, match="VaeConfig configures stage 'vae', not 'teacher'"):
        replace(TINY, stage="teacher")
    assert TINY.size == 32 and replace(TINY, model="cpu").size == 64  # the model's, nothing to keep in step


def test_optimizer_step_clips_and_reports_the_norm():
    w = torch.nn.Parameter(torch.zeros(4))
    opt = torch.optim.SGD([w], lr=1.0)
    norm = optimizer_step(opt, (w * torch.tensor([3.0, 4.0, 0.0, 0.0])).sum(), average=True, grad_clip=1.0)
    assert norm == pytest.approx(5.0) and torch.allclose(w.detach(), torch.tensor([-0.6, -0.8, 0.0, 0.0]))
    assert optimizer_step(opt, w.sum(), average=False) == 0.0  # no clipping: no norm, plain step
    assert torch.allclose(w.detach(), torch.tensor([-1.6, -1.8, -1.0, -1.0]))


def _flat_state(path: Path, config: dict) -> None:
    """Make a state look saved by the code before the split: its config a flat one."""
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    extra = json.loads(meta["extra"])
    extra["config"] = config
    meta["extra"] = json.dumps(extra)
    save_file(load_file(str(path)), str(path), metadata=meta)


def test_a_state_saved_before_new_config_fields_existed_still_resumes(tmp_path):
    """A state of the flat config (every stage's fields, a size) resumes: other stages' fields
    are ignored, fields missing from it count as their defaults of then, its size must be the
    model's."""
    train(VAEStage(TINY), TINY, tmp_path, progress=False, stop_at=2)
    flat = {**FLAT_DEFAULTS, "model": "tiny", "steps": 4, "batch": 2, "size": 32, "clip_frames": 2, "log_every": 1,
            "save_every": 2, "sample_every": 2, "out": "runs/vae_tiny"}
    for k in ("gt_weight", "data_clips", "jdmd", "ema", "loss"):  # fields an older state predates
        flat.pop(k)
    p = tmp_path / "state.safetensors"
    _flat_state(p, {**flat, "size": 64})
    with pytest.raises(ValueError, match=r"different run \(size: 64 -> 32\)"):
        train(VAEStage(TINY), TINY, tmp_path, progress=False)
    _flat_state(p, flat)
    assert train(VAEStage(TINY), TINY, tmp_path, progress=False)["steps"] == TINY.steps


def test_a_flat_state_of_a_generator_stage_is_the_same_run():
    """The flat config a distill_cpu state holds matches distill_cpu.toml read today, though
    its betas, gt_weight, loss and ode_steps (never read by the stage) are gone."""
    cfg = load_run_config(ROOT / "configs" / "train" / "distill_cpu.toml")
    flat = {**FLAT_DEFAULTS, **TODAY["distill_cpu.toml"], "betas": [0.5, 0.5], "gt_weight": 3.0}
    check_same_run(flat, cfg, Path("state.safetensors"))
    with pytest.raises(ValueError, match=r"different run \(critic_lr: 0.0 -> 0.0001\)"):
        check_same_run({**flat, "critic_lr": 0.0}, cfg, Path("state.safetensors"))
