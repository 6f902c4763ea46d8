"""Resumable training state in one safetensors file: weights, optimiser, step, RNG.

Model weights, optimiser tensors (per-parameter moments) and the torch CPU RNG state are
tensors; the optimiser's nested structure, hyper-parameters, the step and the run's config
go into the metadata as JSON (batches and per-step torch randomness are functions of
(seed, step, rank), so no other RNG state is needed). Nothing is pickled, so a resumed run
loads exactly what it saved and a tampered file cannot run code. Written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ...io.atomic import atomic_path
from ...model.checkpoint import CheckpointError, read_metadata

__all__ = ["TRAIN_FORMAT", "save_train_state", "load_train_state"]

TRAIN_FORMAT = "inspatio_gym.train_state"


def _split_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> dict:
    """The optimiser's state_dict with its tensors moved into `tensors` (replaced by keys)."""
    sd = opt.state_dict()
    state = {}
    for pid, st in sd["state"].items():
        entry = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                key = f"optim.{name}.{pid}.{k}"
                tensors[key] = v.detach().to("cpu").contiguous()
                entry[k] = {"tensor": key}
            else:
                entry[k] = v
        state[str(pid)] = entry
    return {"state": state, "param_groups": sd["param_groups"]}


def _join_optimizer(meta: dict, f) -> dict:
    state = {}
    for pid, st in meta["state"].items():
        state[int(pid)] = {k: f.get_tensor(v["tensor"]) if isinstance(v, dict) and "tensor" in v else v
                           for k, v in st.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def save_train_state(path: str | Path, modules: dict[str, torch.nn.Module],
                     optimizers: dict[str, torch.optim.Optimizer], step: int, extra: dict[str, Any]) -> Path:
    """Everything a run needs to continue from `step` (extra: JSON-serialisable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, m in modules.items():
        for k, v in m.state_dict().items():
            tensors[f"model.{name}.{k}"] = v.detach().to("cpu").contiguous()
    optim_meta = {name: _split_optimizer(name, o, tensors) for name, o in optimizers.items()}
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"format": TRAIN_FORMAT, "step": str(int(step)), "optimizers": json.dumps(optim_meta),
            "modules": json.dumps(sorted(modules)), "extra": json.dumps(extra)}
    with atomic_path(path, ".tmp") as tmp:
        save_file(tensors, tmp, metadata=meta)
    return path


def load_train_state(path: str | Path, modules: dict[str, torch.nn.Module],
                     optimizers: dict[str, torch.optim.Optimizer], restore_rng: bool = True) -> tuple[int, dict]:
    """Load weights and optimiser state in place; returns (step, extra). Raises CheckpointError
    naming the file when it is not a training state of these modules."""
    path = Path(path)
    meta = read_metadata(path, generator=False)
    if meta.get("format") != TRAIN_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a training state (format {meta.get('format')!r})")
    try:
        names = json.loads(meta["modules"])
        optim_meta = json.loads(meta["optimizers"])
        step = int(meta["step"])
        extra = json.loads(meta["extra"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"training state {str(path)!r} has broken metadata: {e}") from None
    if sorted(modules) != names or sorted(optimizers) != sorted(optim_meta):
        raise CheckpointError(f"training state {str(path)!r} holds modules {names} and optimisers "
                              f"{sorted(optim_meta)}, expected {sorted(modules)} and {sorted(optimizers)}")
    try:
        with safe_open(str(path), framework="pt") as f:
            for name, m in modules.items():
                prefix = f"model.{name}."
                sd = {k[len(prefix):]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
                try:
                    m.load_state_dict(sd, strict=True)
                except RuntimeError as e:
                    raise CheckpointError(f"training state {str(path)!r} does not fit module {name!r}: "
                                          f"{str(e).splitlines()[0]}") from None
            for name, o in optimizers.items():
                o.load_state_dict(_join_optimizer(optim_meta[name], f))
            if restore_rng:
                torch.set_rng_state(f.get_tensor("rng.torch"))
    except SafetensorError as e:
        raise CheckpointError(f"training state {str(path)!r} is corrupt: {e}") from None
    return step, extra
