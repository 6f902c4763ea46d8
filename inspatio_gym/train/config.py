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

STAGES = ("vae",)


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

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}; known: {STAGES}")
        for name in ("steps", "batch", "size", "clip_frames", "log_every", "save_every", "sample_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not (self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
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
    return RunConfig(**data)
