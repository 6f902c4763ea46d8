"""Training: the loop, resuming, DDP on 2 CPU processes, the VAE stage, data and configs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from inspatio_gym.model.checkpoint import CheckpointError
from inspatio_gym.train import HELD_OUT_SEEDS, ProceduralClips, RunConfig, VAEStage, load_run_config, train
from inspatio_gym.train.data import TRAIN_SEEDS, batch_rng
from inspatio_gym.train.state import load_train_state
from inspatio_gym.train.vae_stage import vae_loss

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


def test_a_state_saved_before_new_config_fields_existed_still_resumes(tmp_path):
    """Fields added to RunConfig later count as their defaults in an older state."""
    from safetensors.torch import load_file, save_file

    train(VAEStage(TINY), TINY, tmp_path, progress=False, stop_at=2)
    p = tmp_path / "state.safetensors"
    with safe_open(str(p), framework="pt") as f:
        meta = f.metadata()
    extra = json.loads(meta["extra"])
    for k in ("gt_weight", "data_clips", "jdmd"):
        extra["config"].pop(k)
    meta["extra"] = json.dumps(extra)
    save_file(load_file(str(p)), str(p), metadata=meta)
    assert train(VAEStage(TINY), TINY, tmp_path, progress=False)["steps"] == TINY.steps
