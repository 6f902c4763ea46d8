"""Register the catalogue of environments: one TOML spec file per id in specs/.

The specs live at the repository's top level (specs/) and are copied into the wheel as
inspatio_gym/_specs, so an installed package registers the same ids as a checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gymnasium as gym

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["spec_dir", "read_specs", "register_envs"]

_SPEC_KEYS = {"id", "entry_point", "vector_entry_point", "max_episode_steps", "kwargs", "description"}


def spec_dir() -> Path:
    """Where the spec files are: inside the installed package, else the checkout's specs/."""
    here = Path(__file__).resolve().parent
    for d in (here / "_specs", here.parent / "specs"):
        if d.is_dir() and any(d.glob("*.toml")):
            return d
    raise FileNotFoundError(f"no environment specs found in {here / '_specs'} or {here.parent / 'specs'}")


def read_specs(directory: Path | None = None) -> list[dict[str, Any]]:
    specs = []
    for path in sorted((directory or spec_dir()).glob("*.toml")):
        with open(path, "rb") as f:
            spec = tomllib.load(f)
        bad = set(spec) - _SPEC_KEYS
        if bad or "id" not in spec or "entry_point" not in spec:
            raise ValueError(f"bad env spec {path}: needs id and entry_point; unknown keys {sorted(bad)}")
        specs.append(spec)
    return specs


def register_envs() -> list[str]:
    """Register every spec not yet registered; returns the ids."""
    ids = []
    for spec in read_specs():
        if spec["id"] not in gym.registry:
            gym.register(
                id=spec["id"],
                entry_point=spec["entry_point"],
                vector_entry_point=spec.get("vector_entry_point"),
                max_episode_steps=spec.get("max_episode_steps"),
                kwargs=spec.get("kwargs", {}),
            )
        ids.append(spec["id"])
    return ids
