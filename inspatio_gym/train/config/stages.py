"""Each stage's config: the shared base plus only the fields that stage reads.

Defaults are the values the shipped configs share (the CPU chain under runs/*_cpu), so
those TOMLs state only what is particular to their run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .run import RunConfig

__all__ = ["CausalConfig", "DistillConfig", "GeneratorStageConfig", "RefineConfig", "STAGE_CONFIGS", "TeacherConfig",
           "VaeConfig"]


@dataclass(frozen=True)
class VaeConfig(RunConfig):
    stage: str = "vae"
    out: str = "runs/vae"
    betas: tuple[float, float] = (0.9, 0.999)
    loss: dict[str, float] = field(default_factory=lambda: {"l1": 1.0, "mse": 1.0, "grad": 0.5})
    real: list[str] = field(default_factory=list)  # real videos / image, 7-Scenes or multi-view folders (globs)
    real_fraction: float = 0.0  # share of each batch of real clips (train.data.real_clips)
    # A VAE export whose latent space this VAE adopts (stages.vae: "aligned"): a generator
    # trained on that VAE's latents then runs at this model's resolution unchanged.
    align: str = ""
    align_weight: float = 1.0  # weight of the latent regression onto the aligned VAE's latents

    def __post_init__(self) -> None:
        super().__post_init__()  # types and ranges of every field (run.py)
        if self.real_fraction > 0 and not self.real:
            raise ValueError("real_fraction > 0 needs real sources (config key 'real')")


@dataclass(frozen=True)
class GeneratorStageConfig(RunConfig):
    """What the generator stages (teacher, causal, distill) share: the frozen VAE, the data mix,
    the weights to start from, gradient clipping."""

    ema: float = 0.99
    vae: str = "runs/vae_cpu/vae.safetensors"  # the vae stage's export (configs/train/vae_cpu.toml), frozen
    init: str = ""  # weights to start from (teacher: optional; causal: a teacher; distill: the causal export)
    real: list[str] = field(default_factory=list)  # real videos / 7-Scenes folders (globs)
    real_fraction: float = 0.0  # share of each batch from real clips (1: the fidelity teacher)
    data_clips: int = 4096  # > 0: a fixed training set of this many clips (built lazily, reused); 0: all fresh
    grad_clip: float = 1.0  # max global gradient norm (0: none)


@dataclass(frozen=True)
class TeacherConfig(GeneratorStageConfig):
    stage: str = "teacher"
    out: str = "runs/teacher"
    betas: tuple[float, float] = (0.9, 0.99)
    sigma_shift: float = 3.0  # training noise levels: shifted uniform
    ode_steps: int = 8  # ODE steps of the sample images


@dataclass(frozen=True)
class CausalConfig(GeneratorStageConfig):
    stage: str = "causal"
    out: str = "runs/causal"
    betas: tuple[float, float] = (0.9, 0.99)
    teacher_synthetic: str = ""  # the teacher whose ODE is regressed ("" : init)
    ode_steps: int = 8  # teacher ODE steps that make the regression targets
    gt_weight: float = 1.0  # weight of a regression onto the true clip (teacher forcing on data)


@dataclass(frozen=True)
class DistillConfig(GeneratorStageConfig):
    """DMD's AdamW betas (0, 0.999) are fixed by the stage, not configured."""

    stage: str = "distill"
    out: str = "runs/distill"
    teacher_synthetic: str = ""  # the control teacher's export
    teacher_real: str = ""  # the fidelity teacher's export
    jdmd: dict[str, float] = field(default_factory=lambda: {"synthetic": 1.0, "real": 0.5})
    sigma_shift: float = 3.0  # the critic's flow-matching noise levels
    critic_steps: int = 2  # fake-score updates per generator update
    critic_lr: float = 1e-4  # 0: the generator's lr

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = sorted(set(self.jdmd) - {"synthetic", "real"})
        if bad:
            raise ValueError(f"unknown jdmd teacher(s) {bad}; known: ['real', 'synthetic']")


@dataclass(frozen=True)
class RefineConfig(RunConfig):
    """The full-resolution refiner on a frozen STAR checkpoint (init): its VAE and DiT make
    the frames the refiner learns to join to the warp."""

    stage: str = "refine"
    out: str = "runs/refine"
    betas: tuple[float, float] = (0.9, 0.99)
    ema: float = 0.99
    init: str = ""  # the frozen generator: a STAR checkpoint (the distill stage's export)
    # An aligned VAE export (stage vae, key align, aligned to init's VAE) that replaces init's:
    # the generator then runs, and the refiner is trained, at this model's resolution.
    vae: str = ""
    channels: int = 16  # the refiner's width (model.refine.Refiner)
    real: list[str] = field(default_factory=list)  # real videos / 7-Scenes / multi-view scene folders (globs)
    real_fraction: float = 0.0
    data_clips: int = 2048  # the fixed training set: clips, each rendered and generated once
    loss: dict[str, float] = field(default_factory=lambda: {"l1": 1.0, "mse": 1.0})
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()  # types and ranges of every field (run.py)
        if self.data_clips < 1:
            raise ValueError(f"data_clips must be an integer >= 1, got {self.data_clips!r}")
        if not 1 <= self.channels <= 256:
            raise ValueError(f"channels must be an integer 1..256, got {self.channels!r}")
        bad = sorted(set(self.loss) - {"l1", "mse"})
        if bad or not self.loss:
            raise ValueError(f"loss must weigh 'l1' and/or 'mse' with weights >= 0, got {self.loss!r}")


#: stage name -> its config class
STAGE_CONFIGS: dict[str, type[RunConfig]] = {"vae": VaeConfig, "teacher": TeacherConfig, "causal": CausalConfig,
                                              "distill": DistillConfig, "refine": RefineConfig}
