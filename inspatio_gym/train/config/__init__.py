"""Run configs: one shared base (`run`), one dataclass per stage (`stages`), TOML files read
over the stage's defaults (`load`)."""

from .load import load_run_config, stage_config
from .run import STAGES, RunConfig
from .stages import (STAGE_CONFIGS, CausalConfig, DistillConfig, GeneratorStageConfig, RefineConfig, TeacherConfig,
                     VaeConfig)

__all__ = ["STAGES", "STAGE_CONFIGS", "CausalConfig", "DistillConfig", "GeneratorStageConfig", "RefineConfig", "RunConfig",
           "TeacherConfig", "VaeConfig", "load_run_config", "stage_config"]
