"""Faults in model and training inputs (issue 14): crafted checkpoints, tampered shipped
checkpoints, a folder given for a file, training configs of the wrong type or range, and
runs whose loss becomes non-finite. Tiny configs, CPU, a few seconds in all."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from inspatio_gym.model import CONFIGS, CheckpointError, StarGenerator, load_checkpoint, save_checkpoint
from inspatio_gym.model import checkpoint as ckpt
from inspatio_gym.train.config import VaeConfig, load_run_config
from inspatio_gym.train.trainer.loop import TrainingDiverged, train
from inspatio_gym.train.trainer.optim import optimizer_step

TINY = CONFIGS["tiny"]
META = {"format": "inspatio_gym.star", "format_version": "1"}


def _tiny_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    gen = StarGenerator(TINY)
    return save_checkpoint(path, gen, TINY)


def _config_with(**changes) -> str:
    """TINY's JSON config with nested fields changed: {"dit.depth": 20000}."""
    d = json.loads(TINY.to_json())
    for key, value in changes.items():
        *outer, last = key.split(".")
        node = d
        for k in outer:
            node = node[k]
        node[last] = value
    return json.dumps(d)


# -- 2. crafted configs are bounded before anything is built; tensors checked from the header ----

@pytest.mark.parametrize("field,value", [
    ("dit__depth", 20_000), ("dit__depth", 200_000), ("dit__width", 1 << 20), ("dit__heads", 4096),
    ("dit__patch", 64), ("dit__mlp_ratio", 1e6), ("vae__latent_channels", 100_000), ("vae__channels", [8, 1 << 20]),
    ("vae__blocks_per_stage", 10_000), ("height", 1 << 20), ("history", 100_000), ("ref_window", 50_000),
    ("sampler__steps", 1000), ("refine", 10_000), ("dit__depth", "4"),
])
def test_crafted_config_sizes_are_refused_before_any_model_is_built(tmp_path, monkeypatch, field, value):
    key = field.replace("__", ".")
    path = tmp_path / "evil.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={**META, "config": _config_with(**{key: value})})

    def no_build(*a, **k):
        raise AssertionError("a model was built from an unchecked config")

    monkeypatch.setattr(StarGenerator, "__init__", no_build)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert time.perf_counter() - t0 < 1.0
    msg = str(e.value)
    assert "evil.safetensors" in msg and "invalid config" in msg and key.split(".")[-1] in msg, msg
    assert repr(value if not isinstance(value, list) else value[1]) in msg, msg


def test_too_many_tokens_a_frame_is_refused(tmp_path):
    path = tmp_path / "wide.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={**META, "config": _config_with(height=2048, width=2048)})
    with pytest.raises(CheckpointError, match=r"wide.safetensors.*2048x2048.*tokens a frame"):
        load_checkpoint(path)


def test_config_bounds_keep_every_named_config_and_round_trip():
    from inspatio_gym.model.config import DiTConfig, GeneratorConfig

    for cfg in CONFIGS.values():
        assert GeneratorConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match=r"dit.depth must be 1..128 \(an integer\), got 20000"):
        DiTConfig(depth=20_000)
    with pytest.raises(ValueError, match="dit.plucker must be true or false"):
        DiTConfig(plucker="yes")


def test_tensor_shapes_are_checked_from_the_header_before_any_tensor_is_read(tmp_path, monkeypatch):
    good = _tiny_checkpoint(tmp_path / "good.safetensors")
    from safetensors.torch import load_file

    sd = load_file(str(good))
    sd["dit.head.weight"] = torch.zeros(3, 5)
    bad = tmp_path / "shape.safetensors"
    save_file(sd, str(bad), metadata={**META, "config": TINY.to_json()})

    def no_read(*a, **k):
        raise AssertionError("a tensor was read before the shapes were checked")

    monkeypatch.setattr(ckpt, "safe_open", no_read)
    want = tuple(StarGenerator(TINY).state_dict()["dit.head.weight"].shape)
    with pytest.raises(CheckpointError, match=rf"shape.safetensors.*'dit.head.weight' is \(3, 5\) torch.float32, "
                                              rf"the config expects \({want[0]}, {want[1]}\)"):
        load_checkpoint(bad)


# -- 10 (part). a folder given for a checkpoint file ---------------------------------------------

def test_a_checkpoint_path_that_is_a_directory_says_so(tmp_path):
    folder = tmp_path / "run_folder"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=r"'.*run_folder' is a directory, not a checkpoint file$"):
        load_checkpoint(folder)
    _tiny_checkpoint(folder / "star.safetensors")
    with pytest.raises(IsADirectoryError, match=r"run_folder' is a directory.*\(it holds star.safetensors\)"):
        ckpt.read_metadata(folder)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.safetensors")


# -- 9. shipped checkpoints are verified against the manifest ------------------------------------

def test_the_manifest_lists_exactly_the_shipped_checkpoints_that_are_there():
    sums = ckpt._read_manifest(ckpt.MANIFEST)
    present = {p.name for p in ckpt.SHIPPED_CHECKPOINTS.values() if p.is_file()}
    assert set(sums) == present and present, (sums, present)
    for name, digest in sums.items():
        assert ckpt.sha256_file(ckpt.CHECKPOINT_DIR / name) == digest, name
    assert ckpt.verify_shipped(ckpt.DEFAULT_CHECKPOINT) is True
    cfg, _, _ = load_checkpoint(ckpt.DEFAULT_CHECKPOINT)
    assert (cfg.height, cfg.width) == (64, 64)


def test_the_manifest_is_package_data():
    """hatch ships every file of the package folder that .gitignore does not exclude."""
    import fnmatch

    patterns = [ln.strip() for ln in (Path(__file__).parents[1] / ".gitignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    assert not any(fnmatch.fnmatch(ckpt.MANIFEST.name, p.strip("/")) for p in patterns)


@pytest.fixture
def package_dir(tmp_path, monkeypatch):
    """A stand-in for the package's checkpoint folder (the real one is never written by tests)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    monkeypatch.setattr(ckpt, "CHECKPOINT_DIR", pkg)
    monkeypatch.setattr(ckpt, "MANIFEST", pkg / "SHA256SUMS")
    monkeypatch.setattr(ckpt, "_VERIFIED", set())
    return pkg


def _flip_a_weight(path: Path) -> None:
    """Change one byte of tensor data: still a valid file of the same size."""
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_tampered_shipped_checkpoint_is_refused_naming_both_hashes(package_dir, tmp_path):
    shipped = _tiny_checkpoint(package_dir / "star_cpu.safetensors")
    ckpt.write_manifest(package_dir, [shipped, package_dir / "star_cpu128.safetensors"])  # 128 px: absent
    assert (package_dir / "SHA256SUMS").read_text() == f"{ckpt.sha256_file(shipped)}  star_cpu.safetensors\n"
    good = ckpt.sha256_file(shipped)
    load_checkpoint(shipped)
    _flip_a_weight(shipped)
    bad = ckpt.sha256_file(shipped)
    with pytest.raises(CheckpointError, match=rf"star_cpu.safetensors' has sha256 {bad}, but the manifest .* "
                                              rf"records {good}"):
        load_checkpoint(shipped)
    link = tmp_path / "elsewhere.safetensors"  # a path outside that resolves inside is still the shipped file
    link.symlink_to(shipped)
    with pytest.raises(CheckpointError, match="has sha256"):
        load_checkpoint(link)
    user = tmp_path / "mine.safetensors"  # the same bytes as a user's file: not held to the manifest
    user.write_bytes(shipped.read_bytes())
    load_checkpoint(user)


def test_files_in_the_checkpoint_folder_need_the_manifest(package_dir):
    shipped = _tiny_checkpoint(package_dir / "star_cpu.safetensors")
    with pytest.raises(CheckpointError, match="manifest .*SHA256SUMS' is missing"):
        load_checkpoint(shipped)
    ckpt.write_manifest(package_dir, [])
    with pytest.raises(CheckpointError, match="star_cpu.safetensors' is in the package's checkpoint folder but "
                                              "not in its manifest"):
        load_checkpoint(shipped)
    (package_dir / "SHA256SUMS").write_text("not a sum\n")
    with pytest.raises(CheckpointError, match="line 1 is not"):
        load_checkpoint(shipped)


def test_verification_is_cached_per_path_mtime_and_size(package_dir, monkeypatch):
    shipped = _tiny_checkpoint(package_dir / "star_cpu.safetensors")
    ckpt.write_manifest(package_dir, [shipped])
    calls = []
    real = ckpt.sha256_file
    monkeypatch.setattr(ckpt, "sha256_file", lambda p: calls.append(p) or real(p))
    for _ in range(3):
        load_checkpoint(shipped)
    assert len(calls) == 1
    st = shipped.stat()
    os.utime(shipped, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: hashed again
    load_checkpoint(shipped)
    assert len(calls) == 2


def test_ship_regenerates_the_manifest_with_the_checkpoints_it_copies(package_dir, tmp_path):
    from inspatio_gym.train.ship import ship

    runs = tmp_path / "runs"
    src = _tiny_checkpoint(runs / "refine_cpu" / "star.safetensors")
    dest = package_dir / "star_cpu.safetensors"
    ship(runs, None, dest=dest, record_path=tmp_path / "training.json")  # its card loads dest: verified
    assert (package_dir / "SHA256SUMS").read_text() == f"{ckpt.sha256_file(src)}  star_cpu.safetensors\n"
    torch.manual_seed(1)
    other = StarGenerator(TINY)
    save_checkpoint(src, other, TINY)  # a new export: shipping it again rewrites the manifest
    ship(runs, None, dest=dest, record_path=tmp_path / "training.json")
    assert ckpt._read_manifest(package_dir / "SHA256SUMS") == {"star_cpu.safetensors": ckpt.sha256_file(src)}
    load_checkpoint(dest)


# -- 7. training configs checked by type and range; non-finite losses stop the run ---------------

@pytest.mark.parametrize("line,key,shown", [
    ('lr = "0.001"', "lr", "'0.001'"), ("betas = 5", "betas", "5"), ('weight_decay = "0.1"', "weight_decay", "'0.1'"),
    ("lr = inf", "lr", "inf"), ("lr = nan", "lr", "nan"), ("betas = [0.9, 1.5]", "betas", "1.5"),
    ("betas = [0.9]", "betas", "[0.9]"), ('steps = "3"', "steps", "'3'"), ("ema = -0.5", "ema", "-0.5"),
    ("loss = { l1 = inf }", "loss", "inf"), ("real = [1]", "real", "[1]"), ("seed = -1", "seed", "-1"),
    ("model = 3", "model", "3"), ("align_weight = true", "align_weight", "True"),
])
def test_training_config_values_are_checked_naming_file_key_and_value(tmp_path, line, key, shown):
    p = tmp_path / "bad_values.toml"
    p.write_text('stage = "vae"\n' + ("" if key == "model" else 'model = "tiny"\n') + f"{line}\n")
    with pytest.raises(ValueError) as e:
        load_run_config(p)
    msg = str(e.value)
    assert "bad_values.toml" in msg and msg.split(": ", 1)[1].startswith(f"{key} must be") and shown in msg, msg


def test_generator_stage_values_are_checked_too(tmp_path):
    p = tmp_path / "teacher.toml"
    p.write_text('stage = "teacher"\nmodel = "tiny"\ngrad_clip = "1"\n')
    with pytest.raises(ValueError, match=r"teacher.toml': grad_clip must be a number, got '1' \(str\)"):
        load_run_config(p)
    p.write_text('stage = "distill"\nmodel = "tiny"\ncritic_lr = inf\n')
    with pytest.raises(ValueError, match=r"teacher.toml': critic_lr must be a finite number in \[0, 1\], got inf"):
        load_run_config(p)
    p.write_text('stage = "vae"\nmodel = "tiny"\nbetas = [0.5, 0.9]\nlr = 1\n')  # an int is a number
    cfg = load_run_config(p)
    assert cfg.betas == (0.5, 0.9) and cfg.lr == 1


class _LineStage:
    """A one-layer stage whose loss (or weights) turn non-finite at a chosen step."""

    def __init__(self, nan_loss_at: int | None = None, nan_weights_at: int | None = None) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Linear(2, 1)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01)
        self.nan_loss_at, self.nan_weights_at, self.n = nan_loss_at, nan_weights_at, 0

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"student": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"student": self.opt}

    def batch(self, rng: np.random.Generator) -> torch.Tensor:
        return torch.as_tensor(rng.standard_normal((4, 2)), dtype=torch.float32)

    def step(self, batch: torch.Tensor, trained: torch.nn.Module) -> dict[str, float]:
        self.n += 1
        loss = trained(batch).square().mean()
        if self.n == self.nan_loss_at:
            loss = loss * float("nan")
        optimizer_step(self.opt, loss, average=False)
        if self.n == self.nan_weights_at:  # a finite loss, then an update to inf (lr = inf did this)
            with torch.no_grad():
                self.model.weight.fill_(float("inf"))
        return {"loss": float(loss.detach()), "mse": float(loss.detach())}

    def samples(self, trained: torch.nn.Module) -> None:
        return None

    def export(self, model: torch.nn.Module, path: Path, meta: dict) -> Path:
        (path / "export.bin").write_bytes(b"x")
        return path / "export.bin"


def _cfg(tmp_path: Path) -> VaeConfig:
    return VaeConfig(model="tiny", steps=6, save_every=2, log_every=1, sample_every=100, out=str(tmp_path))


def _saved(path: Path) -> tuple[int, torch.Tensor]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return int(f.metadata()["step"]), f.get_tensor("model.student.weight")


def test_a_non_finite_loss_stops_the_run_naming_step_and_term_and_keeps_the_last_good_state(tmp_path):
    with pytest.raises(TrainingDiverged, match=r"step 3: non-finite loss term\(s\) loss = nan, mse = nan; stopped "
                                               r"without saving: the last good state \(step 2\) is kept"):
        train(_LineStage(nan_loss_at=3), _cfg(tmp_path), tmp_path, progress=False)
    step, weight = _saved(tmp_path / "state.safetensors")
    assert step == 2 and bool(torch.isfinite(weight).all())
    assert not (tmp_path / "export.bin").exists() and not (tmp_path / "summary.json").exists()
    with pytest.raises(TrainingDiverged, match=r"step 1: .* no state was saved"):
        train(_LineStage(nan_loss_at=1), _cfg(tmp_path / "b"), tmp_path / "b", progress=False)
    assert not (tmp_path / "b" / "state.safetensors").exists()


def test_non_finite_weights_are_never_saved_over_the_last_good_state(tmp_path):
    with pytest.raises(TrainingDiverged, match=r"step 4: weights 'student.weight' are not finite.*\(step 2\)"):
        train(_LineStage(nan_weights_at=4), _cfg(tmp_path), tmp_path, progress=False)
    step, weight = _saved(tmp_path / "state.safetensors")
    assert step == 2 and bool(torch.isfinite(weight).all())
    summary = train(_LineStage(), _cfg(tmp_path / "ok"), tmp_path / "ok", progress=False)  # a finite run ends
    assert summary["steps"] == 6 and math.isfinite(summary["last"]["loss"])
