"""Safetensors checkpoints of the generator: weights plus the config and a format version.

Loading never unpickles anything. It checks, in order: the file exists; it is a complete
safetensors file; the metadata carries our format version and a config; the config builds
a model; every expected tensor is present with the expected shape and nothing else is.
Saving writes to a temporary file and renames it, so a crash never leaves a half file
under the final name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..io.atomic import atomic_path
from .config import GeneratorConfig

__all__ = ["DEFAULT_CHECKPOINT", "SHIPPED_CHECKPOINTS", "shipped_checkpoint", "shipped_sizes", "FORMAT", "FORMAT_VERSION", "CheckpointError", "save_checkpoint", "load_checkpoint",
           "read_metadata"]

#: The checkpoint shipped inside the package (trained here; MODEL_CARD.md beside it):
#: what backend="star" loads when no checkpoint or config is given.
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "star_cpu.safetensors"
#: The shipped checkpoints by the frame size (height, width) they make: backend="star" without a
#: checkpoint takes the one of its world's size (the 128 px one shares the 64 px one's DiT).
SHIPPED_CHECKPOINTS: dict[tuple[int, int], Path] = {
    (64, 64): DEFAULT_CHECKPOINT,
    (128, 128): DEFAULT_CHECKPOINT.with_name("star_cpu128.safetensors"),
}


def shipped_sizes() -> list[tuple[int, int]]:
    """The frame sizes (height, width) a shipped checkpoint makes (those whose file is there)."""
    return [size for size, p in SHIPPED_CHECKPOINTS.items() if p.is_file()]


def shipped_checkpoint(height: int, width: int) -> Path | None:
    """The shipped checkpoint for height x width frames, None where none ships (or its file is missing)."""
    p = SHIPPED_CHECKPOINTS.get((int(height), int(width)))
    return p if p is not None and p.is_file() else None

FORMAT = "inspatio_gym.star"
FORMAT_VERSION = 1
MAX_HEADER = 100_000_000  # bytes, as safetensors itself caps it


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason and the file named."""


def save_checkpoint(path: str | Path, model: torch.nn.Module, config: GeneratorConfig,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write model.state_dict() with metadata {format, format_version, config, extra...}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "config": config.to_json()}
    clash = sorted(set(extra or {}) & set(meta))
    if clash:
        raise ValueError(f"extra metadata may not overwrite {clash}")
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    with atomic_path(path, ".tmp") as tmp:
        save_file(tensors, tmp, metadata=meta)
    return path


def read_metadata(path: str | Path, generator: bool = True) -> dict[str, str]:
    """The checkpoint's metadata, after checking the file is a complete safetensors file
    (and, with generator=True, a generator checkpoint of the version this code reads)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{str(path)!r} is not a safetensors checkpoint (only {size} bytes)")
        n = int.from_bytes(head, "little")
        if n <= 0 or n > MAX_HEADER or 8 + n > size:
            raise CheckpointError(f"{str(path)!r} is not a safetensors checkpoint or is truncated "
                                  f"(header of {n} bytes in a file of {size})")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CheckpointError(f"{str(path)!r} is not a safetensors checkpoint (unreadable header)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{str(path)!r} is not a safetensors checkpoint (header is not an object)")
    end = 0
    for k, v in header.items():
        if k == "__metadata__":
            continue
        offs = v.get("data_offsets") if isinstance(v, dict) else None
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) and o >= 0 for o in offs)):
            raise CheckpointError(f"{str(path)!r} is not a valid safetensors file (bad entry for tensor {k!r})")
        end = max(end, offs[1])
    if 8 + n + end > size:
        raise CheckpointError(f"checkpoint {str(path)!r} is truncated: {size} bytes, tensors need {8 + n + end}")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{str(path)!r} has malformed metadata (must map strings to strings)")
    if not generator:
        return meta
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is a safetensors file but not an inspatio_gym generator "
                              f"checkpoint (format {meta.get('format')!r}, expected {FORMAT!r})")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(f"checkpoint {str(path)!r} has format version {meta.get('format_version')!r}; "
                              f"this inspatio_gym reads version {FORMAT_VERSION}")
    return meta


def load_checkpoint(path: str | Path, expect: GeneratorConfig | None = None
                    ) -> tuple[GeneratorConfig, dict[str, torch.Tensor], dict[str, str]]:
    """(config, state_dict, metadata) of a checkpoint, validated against a model built from it.

    With `expect`, the checkpoint's config must equal it.
    """
    from .generator import StarGenerator

    meta = read_metadata(path)
    if "config" not in meta:
        raise CheckpointError(f"checkpoint {str(path)!r} has no model config in its metadata")
    try:
        cfg = GeneratorConfig.from_json(meta["config"])
        with torch.device("meta"):  # shapes only: an untrusted config allocates nothing
            reference = StarGenerator(cfg).state_dict()
    except Exception as e:  # any failure to build the model from the file's config
        raise CheckpointError(f"checkpoint {str(path)!r} has an invalid config: {type(e).__name__}: {e}") from None
    if expect is not None and cfg != expect:
        raise CheckpointError(f"checkpoint {str(path)!r} was saved with config {cfg}, expected {expect}")
    state: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            missing = sorted(set(reference) - keys)
            unexpected = sorted(keys - set(reference))
            if missing or unexpected:
                raise CheckpointError(f"checkpoint {str(path)!r} does not match its config: missing tensors "
                                      f"{missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected "
                                      f"{unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
            for k in sorted(keys):
                t = f.get_tensor(k)
                if t.shape != reference[k].shape or t.dtype != reference[k].dtype:
                    raise CheckpointError(f"checkpoint {str(path)!r}: tensor {k!r} is {tuple(t.shape)} "
                                          f"{t.dtype}, the config expects {tuple(reference[k].shape)} "
                                          f"{reference[k].dtype}")
                if not torch.isfinite(t).all():
                    raise CheckpointError(f"checkpoint {str(path)!r}: tensor {k!r} has non-finite values")
                state[k] = t
    except SafetensorError as e:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt: {e}") from None
    return cfg, state, meta
