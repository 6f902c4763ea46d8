"""A run config from a TOML file: its keys over the stage config's defaults.

The file's `stage` (default "vae") picks the config class; every other key must be a field
of that class. A key of another stage, or one no stage has, is an error that names it, so a
typo or a misplaced setting never trains silently with the default; so is a value of the
wrong type or out of its range (checked by the config classes), naming the file, the key and
the value.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

from .run import RunConfig
from .stages import STAGE_CONFIGS

__all__ = ["load_run_config", "stage_config"]


def _field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def _key_errors(data: dict[str, Any], cls: type[RunConfig], where: str) -> list[str]:
    stage = cls.own_stage()
    own = _field_names(cls)
    errors, unknown = [], []
    for key in sorted(set(data) - own):
        others = [s for s, c in STAGE_CONFIGS.items() if key in _field_names(c)]
        if others:
            errors.append(f"key {key!r} in {where} does not belong to stage {stage!r} (it configures "
                          f"{', '.join(repr(s) for s in others)})")
        elif key == "size":
            errors.append(f"key 'size' in {where} is not a setting: the frame size is the model config's "
                          f"(model = {data.get('model', cls.model)!r}); remove it")
        else:
            unknown.append(key)
    if unknown:
        errors.append(f"unknown key(s) {unknown} in {where}")
    if errors:
        errors.append(f"stage {stage!r} takes: {sorted(own)}")
    return errors


def stage_config(data: dict[str, Any], where: str = "training config") -> RunConfig:
    """The config of data's stage: data's keys over that stage's defaults."""
    stage = data.get("stage", "vae")
    if stage not in STAGE_CONFIGS:
        raise ValueError(f"unknown stage {stage!r} in {where}; known: {sorted(STAGE_CONFIGS)}")
    cls = STAGE_CONFIGS[stage]
    errors = _key_errors(data, cls, where)
    if errors:
        raise ValueError("; ".join(errors))
    data = dict(data)
    if isinstance(data.get("real"), str):
        data["real"] = [data["real"]]
    try:  # the dataclass checks every key's type and range (run.py); the message gains the file
        return cls(**data)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: {e}") from None


def load_run_config(path: str | Path) -> RunConfig:
    """The config a TOML file of top-level keys describes (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"training config {str(path)!r} is a directory, not a TOML file")
    if not path.is_file():
        raise FileNotFoundError(f"training config not found: {str(path)!r}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"training config {str(path)!r} is not UTF-8 text (byte {e.start}: "
                         f"{e.object[e.start:e.start + 1]!r}); a config is a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"cannot parse training config {str(path)!r}: {e}") from None
    return stage_config(data, f"training config {str(path)!r}")
