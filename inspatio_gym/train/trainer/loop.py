"""The training loop every stage shares: devices, DDP, resume, logging, checkpoints.

A stage supplies its modules and optimisers, a batch for (step, rank) and a loss; the loop
does the rest, identically on one CPU process, on several under torchrun (gloo on the CPU,
NCCL on GPUs) and after a resume: the batch of a step depends only on (seed, step, rank),
and the training state (weights, optimiser, RNG, step) is saved atomically every
save_every steps and at the end. A non-finite loss term, or non-finite weights when a state
is due, stops the run (TrainingDiverged) before anything is saved, so the last good state
stays on disk.
"""

from __future__ import annotations

import copy
import gc
import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from ..config import RunConfig
from ..data.seeds import batch_rng
from .distributed import Dist
from .optim import ema_update
from .resume import check_same_run, saved_config
from .state import load_train_state, save_train_state

__all__ = ["Stage", "TrainingDiverged", "train"]


class TrainingDiverged(FloatingPointError):
    """A loss term or the weights became inf or nan: training stops before saving over the last
    good state, naming the step and the term."""


def _nonfinite_terms(scalars: dict[str, float]) -> list[str]:
    """The step's scalars that are inf or nan (any of them: a NaN metric means NaN weights soon)."""
    return sorted(k for k, v in scalars.items() if not math.isfinite(float(v)))


def _nonfinite_weight(modules: dict[str, torch.nn.Module]) -> str | None:
    """The first floating-point tensor of the saved modules that is not finite (None: all are)."""
    for name, m in modules.items():
        for k, t in m.state_dict().items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                return f"{name}.{k}"
    return None


class Stage(Protocol):
    """What a training stage provides to the loop."""

    def modules(self) -> dict[str, torch.nn.Module]: ...  # everything saved; "student" is trained
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...
    def batch(self, rng: np.random.Generator) -> Any: ...
    def step(self, batch: Any, trained: torch.nn.Module) -> dict[str, float]: ...  # backward + optimiser step
    # optional: ddp = False when the stage averages gradients itself (optimizer_step(average=True))
    def samples(self, trained: torch.nn.Module) -> torch.Tensor | None: ...  # an image [3, H, W] in [0, 1]
    def export(self, model: torch.nn.Module, path: Path, meta: dict[str, Any]) -> Path: ...


def train(stage: Stage, cfg: RunConfig, out: str | Path, device: str = "cpu", resume: bool = True,
          progress: bool = True, stop_at: int | None = None) -> dict[str, Any]:
    """Run (or continue) a stage to cfg.steps (or stop_at, for tests of resuming).

    Writes under out/: state.safetensors (resumable), the stage's export, tb/ (TensorBoard
    scalars and samples), samples/*.png and summary.json. Returns the summary.
    """
    out = Path(out)
    d = Dist(device)
    torch.manual_seed(cfg.seed)
    modules = stage.modules()
    for m in modules.values():
        m.to(d.device)
    opts = stage.optimizers()
    student = modules["student"]
    ema = copy.deepcopy(student).eval() if cfg.ema > 0 else None
    if ema is not None:
        modules = {**modules, "ema": ema}
    state_path = out / "state.safetensors"
    start, spent = 0, 0.0
    saved: int | None = None  # the step of the state on disk, for the message if the run diverges
    if not resume and d.main:  # a restart must not be resumed later from the old run's files
        import shutil

        for old in (state_path, out / "summary.json"):
            old.unlink(missing_ok=True)
        shutil.rmtree(out / "tb", ignore_errors=True)
    d.barrier()
    found = d.broadcast(state_path.exists() if d.main else False)  # rank 0's filesystem decides
    if resume and found:
        # the config first: a changed run is named by what changed, before anything is overwritten
        check_same_run(saved_config(state_path), cfg, state_path)
        start, extra = load_train_state(state_path, modules, opts)
        saved = start
        spent = float(extra.get("seconds", 0.0))
    trained = student
    if d.world > 1 and getattr(stage, "ddp", True):  # stages with many passes per step sync by hand
        trained = torch.nn.parallel.DistributedDataParallel(student, device_ids=[d.local] if d.device.type == "cuda" else None)
    writer = None
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"))
        except ImportError:  # TensorBoard is optional: scalars still go to summary.json
            writer = None
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    last: dict[str, float] = {}
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()

    def diverged(what: str) -> TrainingDiverged:
        """Close what is open (TensorBoard, DDP, the process group: every rank gets here together)
        and say what broke and what was kept."""
        nonlocal trained
        bar.close()
        if writer is not None:
            writer.close()
        if d.world > 1:
            dist.barrier()
            trained = None
            gc.collect()
        d.close()
        kept = (f"the last good state (step {saved}) is kept in {str(state_path)!r}" if saved is not None
                else "no state was saved")
        return TrainingDiverged(f"train {cfg.stage}: step {what}; stopped without saving: {kept}. Lower lr "
                                f"(now {cfg.lr!r}) or check the data, then resume or --restart")

    bar = tqdm(range(start, end), initial=start, total=cfg.steps, desc=f"train {cfg.stage}",
               disable=not (progress and d.main), unit="step")
    for step in bar:
        student.train()
        rng = batch_rng(cfg.seed, step, d.rank)
        torch.manual_seed(int(rng.integers(2**62)))  # torch noise too is a function of (seed, step, rank)
        batch = stage.batch(rng)
        last = stage.step(batch, trained)
        n = step + 1
        bad = _nonfinite_terms(last)
        if d.any(bool(bad)):
            terms = ", ".join(f"{k} = {last[k]}" for k in bad) if bad else "on another rank"
            raise diverged(f"{n}: non-finite loss term(s) {terms}")
        if ema is not None:
            ema_update(ema, student, cfg.ema)
        if d.main and (n % cfg.log_every == 0 or n == end):
            bar.set_postfix({k: f"{v:.4g}" for k, v in last.items()})
            history.append({"step": n, **last})
            if writer is not None:
                for k, v in last.items():
                    writer.add_scalar(f"{cfg.stage}/{k}", v, n)
        if d.main and (n % cfg.sample_every == 0 or n == end):
            img = stage.samples(ema if ema is not None else student)
            if img is not None:
                from ...io.media import write_png

                write_png(out / "samples" / f"{n:07d}.png", (img.clamp(0, 1) * 255 + 0.5).byte().permute(1, 2, 0).numpy())
                if writer is not None:
                    writer.add_image(f"{cfg.stage}/samples", img, n)
        if n % cfg.save_every == 0 or n == end:
            broken = d.broadcast(_nonfinite_weight(modules) if d.main else None)  # rank 0's weights are saved
            if broken is not None:
                raise diverged(f"{n}: weights {broken!r} are not finite")
            if d.main:
                save_train_state(state_path, modules, opts, n,
                                 {"seconds": spent + time.perf_counter() - t0, "config": asdict(cfg)})
            saved = n
            d.barrier()
    seconds = spent + time.perf_counter() - t0
    summary = {"stage": cfg.stage, "steps": end, "seconds": round(seconds, 2), "world_size": d.world,
               "device": str(d.device), "last": last, "history": history}
    if d.world > 1:  # DDP keeps replicas equal; check it rather than trust it
        flat = torch.cat([p.detach().reshape(-1).double() for p in student.parameters()])
        lo, hi = flat.clone(), flat.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        summary["ranks_in_sync"] = bool(torch.equal(lo, hi))
        # Drop the DDP wrapper while the process group is still registered, with nothing in
        # flight: freeing its Reducer after destroy_process_group runs ~ProcessGroupGloo there,
        # holding the GIL, while a gloo thread waits for the GIL to free a tensor (deadlock).
        dist.barrier()
        trained = None
        gc.collect()
    if d.main:
        if end == cfg.steps:
            final = ema if ema is not None else student
            summary["export"] = str(stage.export(final, out, {"steps": end, "seconds": round(seconds, 2)}))
        prev = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
        summary["history"] = [h for h in prev.get("history", []) if h["step"] <= start] + history
        if not last and summary["history"]:  # a resume with nothing left to do reports the run's end
            summary["last"] = {k: v for k, v in summary["history"][-1].items() if k != "step"}
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        if writer is not None:
            writer.close()
    d.close()
    return summary
