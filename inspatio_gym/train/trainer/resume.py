"""Is a saved training state the state of this run? The config check a resume makes first.

States store the config they were trained with. Those written before the configs were split
by stage hold one flat config with every stage's fields and a `size`: keys of other stages
were never read by the stage and are ignored; `size` must be the model's; a field missing
from a state predates it and counts as its default of that time (FLAT_DEFAULTS), or, for a
field newer than the split, as the stage's default.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ...model.checkpoint import read_metadata
from ..config import RunConfig

__all__ = ["FLAT_DEFAULTS", "RESUMABLE_CHANGES", "check_same_run", "saved_config"]

#: Config fields a resumed run may change (how long it runs, where it logs), not what it trains.
RESUMABLE_CHANGES = {"steps", "out", "log_every", "save_every", "sample_every"}

#: The defaults of the flat config every state held before the per-stage split.
FLAT_DEFAULTS: dict[str, Any] = {
    "stage": "vae", "model": "cpu", "steps": 1000, "batch": 8, "lr": 0.001, "weight_decay": 0.0,
    "betas": [0.9, 0.999], "ema": 0.0, "seed": 0, "size": 64, "clip_frames": 3, "log_every": 20,
    "save_every": 200, "sample_every": 200, "out": "runs/vae", "loss": {"l1": 1.0, "mse": 1.0, "grad": 0.5},
    "vae": "", "real": [], "real_fraction": 0.0, "sigma_shift": 3.0, "grad_clip": 1.0, "init": "", "ode_steps": 8,
    "data_clips": 0, "gt_weight": 0.0, "teacher_synthetic": "", "teacher_real": "",
    "jdmd": {"synthetic": 1.0, "real": 0.5}, "critic_steps": 2, "critic_lr": 0.0,
}


def saved_config(path: Path) -> dict[str, Any]:
    """The config stored in a training state ({} when unreadable: loading reports that)."""
    try:
        return json.loads(read_metadata(path, generator=False).get("extra", "{}")).get("config", {})
    except (json.JSONDecodeError, AttributeError):
        return {}


def check_same_run(saved: dict[str, Any], cfg: RunConfig, path: Path) -> None:
    """Raise ValueError naming every changed field unless saved is cfg's run."""
    now = asdict(cfg)
    newer = asdict(type(cfg)())  # fields the flat config never had
    then = {k: saved[k] if k in saved else FLAT_DEFAULTS.get(k, newer[k]) for k in now}
    if "size" in saved:  # a flat-config state: its size was a setting, now the model's
        now["size"], then["size"] = cfg.size, saved["size"]
    diff = sorted(k for k in now if k not in RESUMABLE_CHANGES and
                  json.dumps(then[k], sort_keys=True) != json.dumps(now[k], sort_keys=True))
    if diff:
        detail = ", ".join(f"{k}: {then[k]!r} -> {now[k]!r}" for k in diff)
        raise ValueError(f"{str(path)!r} is the state of a different run ({detail}); resume with the same "
                         "config, or pass --restart to start over")
