"""The STAR backend: the world model generates what the camera sees.

Per step the time-aligned reference frame, fused with its neighbour frames, is warped into
the camera (render + coverage mask: the explicit spatial constraint) and the generator turns it, with its cache of
reference and recent frames, into the observation. The checkpoint trained by this repository
ships in the package and is loaded by default; a config given instead (tests, benchmarks)
builds a randomly initialised model, with a loud warning.
"""

from __future__ import annotations

import warnings
import weakref
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from ..geometry.camera import invert_pose, plucker_rays, scale_intrinsics
from ..model.checkpoint import DEFAULT_CHECKPOINT, load_generator, shipped_checkpoint, shipped_sizes
from ..model.config import CONFIGS, GeneratorConfig, SamplerConfig
from ..model.generator import CONTEXT, StarGenerator, check_context
from ..render.condition import condition_from_view, condition_renderer, fill_from_view
from ..world.reference import ReferenceWorld
from .base import Backend, View
from .threads import process_governor

__all__ = ["StarBackend", "UntrainedModelWarning", "DEFAULT_CHECKPOINT", "resolve_device"]


class UntrainedModelWarning(UserWarning):
    """The generator has random weights: its images are noise, not a world."""


def resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):  # torch's own message lists its ~20 device types, not the value's use
        raise ValueError(f"unknown device {device!r}; expected 'auto', 'cpu' or 'cuda' (or 'cuda:N')") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available")
    return dev


class _Shared:
    """A generator and the reference caches of the worlds it has seen (dropped with the world)."""

    def __init__(self, generator: StarGenerator) -> None:
        self.generator = generator
        self.worlds: "weakref.WeakKeyDictionary[ReferenceWorld, object]" = weakref.WeakKeyDictionary()


#: Generators by (checkpoint or config, device, compile): envs on one model share its weights
#: and every world's reference cache, so N envs on one video encode it once.
_SHARED: "weakref.WeakValueDictionary[tuple, _Shared]" = weakref.WeakValueDictionary()


def _build(checkpoint: str | Path | None, config: GeneratorConfig, seed_weights: int, device: torch.device,
           compile: bool) -> StarGenerator:
    if checkpoint is not None:
        gen = load_generator(checkpoint, device)
    else:
        with torch.random.fork_rng(devices=[]):  # the caller's global RNG stays untouched
            torch.manual_seed(seed_weights)
            gen = StarGenerator(config)
        gen.eval().to(device)
    if compile:
        gen.dit = torch.compile(gen.dit)  # type: ignore[assignment]
    return gen


class StarBackend(Backend):
    """Generator-backed observations.

    checkpoint: a .safetensors path (default: the shipped checkpoint, unless a config is given);
    config: a GeneratorConfig or a name in CONFIGS: random weights of that shape (tests,
    benchmarks), used only without a checkpoint;
    device: "cpu", "cuda" or "auto"; threads: torch intra-op threads for the whole process
    (torch.set_num_threads), or None: the process's governor (backends.threads) picks 1 or
    the default count step by step, whichever is faster under the machine's current load;
    compile: torch.compile the transformer; seed_weights: seed of the random init;
    context: the cache parts attended to (default both "reference" and "history") and
    sampler_steps: flow steps (default the checkpoint's), both for ablations;
    keep_covered: pixels the render covers show the reference's own pixels and the
    generator fills the rest (its holes). At this model's scale that is +2.4 dB full-frame
    PSNR over the generator's whole frame on held-out worlds (docs/results/star), so it is
    the default; False shows the generator's whole frame (a checkpoint with a refiner,
    model.refine, keeps covered pixels itself: for it this changes nothing).
    """

    name = "star"

    def __init__(self, checkpoint: str | Path | None = None, config: GeneratorConfig | str | None = None,
                 device: str = "auto", threads: int | None = None, compile: bool = False,
                 seed_weights: int = 0, context: tuple[str, ...] = CONTEXT, sampler_steps: int | None = None,
                 keep_covered: bool = True) -> None:
        if checkpoint is not None and not isinstance(checkpoint, (str, Path)):
            raise TypeError(f"checkpoint must be a path to a .safetensors file, got {type(checkpoint).__name__}: "
                            f"{checkpoint!r}")
        if config is not None and not isinstance(config, (str, GeneratorConfig)):
            raise TypeError(f"config must be a GeneratorConfig or a name in {sorted(CONFIGS)}, got "
                            f"{type(config).__name__}: {config!r}")
        self.keep_covered = bool(keep_covered)
        self.context = check_context(context)
        if sampler_steps is not None and (isinstance(sampler_steps, bool) or not isinstance(sampler_steps, int)):
            raise ValueError(f"sampler_steps must be an integer 1..4 or None, got {sampler_steps!r}")
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ValueError(f"threads must be a positive integer, got {threads!r}")
            torch.set_num_threads(threads)
        self.device = resolve_device(device)
        self.threads = None if threads is not None or self.device.type != "cpu" else process_governor()
        # No checkpoint and no config: the shipped checkpoint of the world's frame size, chosen at bind.
        self.auto = checkpoint is None and config is None and DEFAULT_CHECKPOINT.is_file()
        if self.auto:
            checkpoint = DEFAULT_CHECKPOINT
        if config is None:
            config = "cpu"
        self._compile, self._seed_weights, self._sampler_steps = compile, seed_weights, sampler_steps
        self._lanes: int | None = None
        self._use(checkpoint, config)
        self.warp = condition_renderer()
        self.sessions = None

    def _use(self, checkpoint: str | Path | None, config: GeneratorConfig | str) -> None:
        """Load (or share) the generator of checkpoint, or a random one of config."""
        if checkpoint is not None:
            p = Path(checkpoint).resolve()
            st = p.stat() if p.is_file() else None
            key: tuple = ("ckpt", str(p), st.st_mtime_ns if st else 0, str(self.device), self._compile)
        else:
            if isinstance(config, str):
                if config not in CONFIGS:
                    raise ValueError(f"unknown generator config {config!r}; known: {sorted(CONFIGS)}")
                config = CONFIGS[config]
            key = ("random", config.to_json(), self._seed_weights, str(self.device), self._compile)
        shared = _SHARED.get(key)
        if shared is None:
            shared = _Shared(_build(checkpoint, config, self._seed_weights, self.device, self._compile))
            _SHARED[key] = shared
        self._shared = shared  # keeps it alive as long as this backend lives
        self.generator = shared.generator
        self.worlds = shared.worlds  # reference caches shared by every env on this generator
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.trained = checkpoint is not None
        if not self.trained:
            warnings.warn(
                "backend='star' is running a RANDOMLY INITIALISED generator (no trained checkpoint found): "
                "observations are not a world model's output. Pass checkpoint=... for a trained model.",
                UntrainedModelWarning,
                stacklevel=3,
            )
        self.cfg = self.generator.cfg
        self.sampler = (None if self._sampler_steps is None else
                        SamplerConfig(steps=self._sampler_steps, shift=self.cfg.sampler.shift))
    def __getstate__(self) -> dict:
        """A copy carries the generator's weights and its sessions; reference caches are rebuilt."""
        state = self.__dict__.copy()
        state["worlds"] = None
        state["_shared"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.worlds = weakref.WeakKeyDictionary()

    def allocate(self, lanes: int) -> None:
        self._lanes = lanes
        self.sessions = self.generator.new_sessions(lanes)

    def bind(self, world: ReferenceWorld) -> None:
        size = (world.height, world.width)
        shipped = shipped_checkpoint(*size) if self.auto else None
        if shipped is not None and shipped != self.checkpoint:
            self._use(shipped, "cpu")
            if self._lanes is not None:
                self.allocate(self._lanes)
        if size != (self.cfg.height, self.cfg.width):
            shipped = " or ".join(f"{w}x{h}" for (h, w) in shipped_sizes())
            hint = (f"; the shipped checkpoints make {shipped} (pass no checkpoint to get the one of the world's size)"
                    if shipped else "")
            raise ValueError(
                f"the generator makes {self.cfg.width}x{self.cfg.height} frames but world {world.name!r} is "
                f"{world.width}x{world.height}; use width={self.cfg.width}, height={self.cfg.height}{hint}"
            )
        if world not in self.worlds:
            self.worlds[world] = self.generator.encode_reference(torch.from_numpy(world.frames))
        self.warp.bind(world)

    def _reference(self, world: ReferenceWorld) -> object:
        """The world's reference cache: bound once by the env; a copied backend rebinds on first use."""
        cache = self.worlds.get(world)
        if cache is None:
            self.bind(world)
            cache = self.worlds[world]
        return cache

    def reset(self, world: ReferenceWorld, lanes: np.ndarray, start_frames: np.ndarray, seeds: np.ndarray) -> None:
        assert self.sessions is not None, "allocate() must come first"
        self.generator.reset_sessions(self._reference(world), self.sessions, torch.from_numpy(lanes),
                                      torch.from_numpy(start_frames), torch.from_numpy(seeds.astype(np.int64)))

    def save(self, lanes: np.ndarray) -> object:
        return None if self.sessions is None else self.sessions.save(torch.from_numpy(np.asarray(lanes)))

    def load(self, lanes: np.ndarray, saved: object) -> None:
        if saved is not None and self.sessions is not None:
            self.sessions.load(torch.from_numpy(np.asarray(lanes)), saved)  # type: ignore[arg-type]

    def observe(self, world: ReferenceWorld, lanes: np.ndarray, c2w: np.ndarray, frames: np.ndarray) -> View:
        assert self.sessions is not None
        w = self.warp.render(world, c2w, frames)
        dev = self.device
        render, mask = condition_from_view(w, dev)
        plucker = None
        if self.cfg.dit.plucker:
            h, wd = self.cfg.latent_hw
            rel = invert_pose(world.c2w[frames]) @ c2w  # target relative to the reference camera
            K = torch.from_numpy(scale_intrinsics(world.K, wd / world.width, h / world.height))
            plucker = plucker_rays(torch.from_numpy(rel), K, h, wd).permute(0, 3, 1, 2).to(dev)
        fill = fill_from_view(w, dev) if self.generator.refiner is not None else None
        ref = self._reference(world)
        with self.threads.step(len(lanes)) if self.threads is not None else nullcontext():
            out = self.generator.step(ref, self.sessions, torch.from_numpy(lanes), torch.from_numpy(frames), render,
                                      mask, plucker, self.context, self.sampler, fill)
        rgb = ((out + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        if self.keep_covered:
            rgb = np.where(w.mask[..., None], w.render, rgb)
        return View(rgb=rgb, depth=w.depth, mask=w.mask, render=w.render)
