"""Training run configuration, read from TOML files in configs/train/."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

__all__ = ["RunConfig", "load_run_config"]

STAGES = ("vae", "teacher", "causal", "distill")


@dataclass(frozen=True)
class RunConfig:
    stage: str = "vae"
    model: str = "cpu"  # a name in model.config.CONFIGS
    steps: int = 1000
    batch: int = 8  # per process
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    ema: float = 0.0  # EMA decay of the exported weights (0: none)
    seed: int = 0
    size: int = 64
    clip_frames: int = 3
    log_every: int = 20
    save_every: int = 200
    sample_every: int = 200
    out: str = "runs/vae"
    loss: dict[str, float] = field(default_factory=lambda: {"l1": 1.0, "mse": 1.0, "grad": 0.5})
    # generator stages (teacher, causal, distill)
    vae: str = ""  # the vae stage's export, frozen
    real: list[str] = field(default_factory=list)  # real videos / 7-Scenes folders (globs)
    real_fraction: float = 0.0  # share of each batch from real clips (1: the fidelity teacher)
    sigma_shift: float = 3.0  # training noise levels: shifted uniform
    grad_clip: float = 1.0  # max global gradient norm (0: none)
    init: str = ""  # weights to start from (causal: a teacher; distill: the causal export)
    ode_steps: int = 8  # teacher ODE steps that make the causal stage's regression targets
    data_clips: int = 0  # > 0: a fixed training set of this many clips (built lazily, reused); 0: all fresh
    gt_weight: float = 0.0  # causal: weight of a regression onto the true clip (teacher forcing on data)
    teacher_synthetic: str = ""  # distill: the control teacher's export
    teacher_real: str = ""  # distill: the fidelity teacher's export
    jdmd: dict[str, float] = field(default_factory=lambda: {"synthetic": 1.0, "real": 0.5})
    critic_steps: int = 2  # fake-score updates per generator update
    critic_lr: float = 0.0  # 0: the generator's lr

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}; known: {STAGES}")
        for name in ("steps", "batch", "size", "clip_frames", "log_every", "save_every", "sample_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not (self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not (0.0 <= self.real_fraction <= 1.0):
            raise ValueError(f"real_fraction must be in [0, 1], got {self.real_fraction!r}")
        bad = sorted(set(self.jdmd) - {"synthetic", "real"})
        if bad:
            raise ValueError(f"unknown jdmd teacher(s) {bad}; known: ['real', 'synthetic']")
        if self.data_clips < 0:
            raise ValueError(f"data_clips must be >= 0, got {self.data_clips!r}")
        if self.critic_steps < 1 or self.ode_steps < 1:
            raise ValueError(f"critic_steps and ode_steps must be >= 1, got {self.critic_steps}, {self.ode_steps}")
        if not (0.0 <= self.ema < 1.0):
            raise ValueError(f"ema must be in [0, 1), got {self.ema!r}")

    def override(self, **kw: Any) -> "RunConfig":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


def load_run_config(path: str | Path) -> RunConfig:
    """A RunConfig from a TOML file of top-level keys (unknown keys are an error)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config not found: {str(path)!r}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"cannot parse training config {str(path)!r}: {e}") from None
    known = {f.name for f in fields(RunConfig)}
    bad = sorted(set(data) - known)
    if bad:
        raise ValueError(f"unknown key(s) {bad} in training config {str(path)!r}; known: {sorted(known)}")
    if "betas" in data:
        data["betas"] = tuple(data["betas"])
    if "real" in data and isinstance(data["real"], str):
        data["real"] = [data["real"]]
    return RunConfig(**data)
