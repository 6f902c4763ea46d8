"""The fields every training stage shares, and the checks on them.

A run's frame size is not a setting: it is the model config's (`RunConfig.size`), so the
data a stage renders and the model it trains cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from ...model.config import CONFIGS

__all__ = ["STAGES", "RunConfig"]

STAGES = ("vae", "teacher", "causal", "distill", "refine")

#: Integer fields that must be >= 1, wherever a stage declares them.
_POSITIVE_INTS = ("steps", "batch", "clip_frames", "log_every", "save_every", "sample_every", "ode_steps",
                  "critic_steps")


@dataclass(frozen=True)
class RunConfig:
    """What every stage is configured by. A stage's config subclasses this with only its own
    fields (`stages.py`); the defaults are the shipped recipe's shared values, so a TOML in
    configs/train/ holds only what makes its run that run."""

    stage: str = "vae"
    model: str = "cpu"  # a name in model.config.CONFIGS: the architecture and the frame size
    seed: int = 0
    steps: int = 1000
    batch: int = 8  # per process
    lr: float = 1e-3
    weight_decay: float = 0.0
    ema: float = 0.0  # EMA decay of the exported weights (0: none)
    clip_frames: int = 3
    log_every: int = 20
    save_every: int = 200
    sample_every: int = 200
    out: str = "runs/vae"

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}; known: {STAGES}")
        own = self.own_stage()
        if own is not None and self.stage != own:
            raise ValueError(f"{type(self).__name__} configures stage {own!r}, not {self.stage!r}")
        if self.model not in CONFIGS:
            raise ValueError(f"unknown model config {self.model!r}; known: {sorted(CONFIGS)}")
        m = CONFIGS[self.model]
        if m.width != m.height:
            raise ValueError(f"model {self.model!r} is {m.width}x{m.height}; training renders square clips")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in _POSITIVE_INTS and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{f.name} must be an integer >= 1, got {v!r}")
        if not (self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not (0.0 <= self.ema < 1.0):
            raise ValueError(f"ema must be in [0, 1), got {self.ema!r}")

    @classmethod
    def own_stage(cls) -> str | None:
        """The stage a config class is for: the `stage` default it declares itself (None for
        the shared bases, which inherit it)."""
        return None if cls is RunConfig or "stage" not in vars(cls) else vars(cls)["stage"]

    @property
    def size(self) -> int:
        """The frame size (pixels, square): the model config's."""
        return CONFIGS[self.model].height

    def override(self, **kw: Any) -> "RunConfig":
        """A copy with the given fields changed; None leaves a field as it is (unset CLI flags)."""
        return replace(self, **{k: v for k, v in kw.items() if v is not None})
