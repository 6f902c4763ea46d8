"""The fields every training stage shares, and the checks on them.

A run's frame size is not a setting: it is the model config's (`RunConfig.size`), so the
data a stage renders and the model it trains cannot disagree.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

from ...model.config import CONFIGS

__all__ = ["STAGES", "RunConfig"]

STAGES = ("vae", "teacher", "causal", "distill", "refine")

#: Integer fields that must be >= 1, wherever a stage declares them.
_POSITIVE_INTS = ("steps", "batch", "clip_frames", "log_every", "save_every", "sample_every", "ode_steps",
                  "critic_steps")
#: Integer fields that must be >= 0.
_NATURAL_INTS = ("seed", "data_clips")
#: Intervals of number fields (and of every entry of betas, loss, jdmd), wherever a stage
#: declares them: (low, high, brackets). Every number must also be finite: inf or nan would
#: train NaN losses.
_RANGES: dict[str, tuple[float, float, str]] = {
    "lr": (0, 1, "(]"), "critic_lr": (0, 1, "[]"), "weight_decay": (0, 1, "[]"), "ema": (0, 1, "[)"),
    "betas": (0, 1, "[)"), "real_fraction": (0, 1, "[]"), "sigma_shift": (0, math.inf, "()"),
    "grad_clip": (0, math.inf, "[)"), "gt_weight": (0, math.inf, "[)"), "align_weight": (0, math.inf, "[)"),
    "loss": (0, math.inf, "[)"), "jdmd": (0, math.inf, "[)"),
}


def _in_range(x: float, lo: float, hi: float, brackets: str) -> bool:
    return (math.isfinite(x) and (lo <= x if brackets[0] == "[" else lo < x)
            and (x <= hi if brackets[1] == "]" else x < hi))


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float))


def _type_error(name: str, value: Any, hint: Any) -> str | None:
    """Why value is not of the field's declared type (None when it is): a TOML value of the
    wrong type must be named here, not fail later as a bare TypeError inside the trainer."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    got = f"got {value!r} ({type(value).__name__})"
    if hint is int:
        return None if not isinstance(value, bool) and isinstance(value, int) else f"{name} must be an integer, {got}"
    if hint is float:
        return None if _is_number(value) else f"{name} must be a number, {got}"
    if hint is str:
        return None if isinstance(value, str) else f"{name} must be a string, {got}"
    if origin is tuple:
        ok = isinstance(value, (tuple, list)) and len(value) == len(args) and all(_is_number(v) for v in value)
        return None if ok else f"{name} must be a list of {len(args)} numbers, {got}"
    if origin is list:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        return None if ok else f"{name} must be a list of strings, {got}"
    if origin is dict:
        ok = isinstance(value, dict) and all(isinstance(k, str) and _is_number(v) for k, v in value.items())
        return None if ok else f"{name} must be a table of numbers by name, {got}"
    return None


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
        self._check_types_and_ranges()
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

    def _check_types_and_ranges(self) -> None:
        """Every field of its declared type, every number finite and in its range; the error
        names the key and the value (load.py adds the file)."""
        hints = _hints(type(self))
        for f in fields(self):
            name, v = f.name, getattr(self, f.name)
            why = _type_error(name, v, hints[name])
            if why:
                raise ValueError(why)
            if isinstance(v, list) and typing.get_origin(hints[name]) is tuple:
                object.__setattr__(self, name, v := tuple(v))  # a TOML array: the same value, as declared
            if name in _POSITIVE_INTS and v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
            if name in _NATURAL_INTS and v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
            if name in _RANGES:
                lo, hi, brackets = _RANGES[name]
                values = v.values() if isinstance(v, dict) else v if isinstance(v, tuple) else (v,)
                if not all(_in_range(x, lo, hi, brackets) for x in values):
                    what = "finite numbers" if isinstance(v, (tuple, dict)) else "a finite number"
                    raise ValueError(f"{name} must be {what} in {brackets[0]}{lo:g}, {hi:g}{brackets[1]}, got {v!r}")

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
