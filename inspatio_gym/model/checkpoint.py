"""Safetensors checkpoints of the generator: weights plus the config and a format version.

Loading never unpickles anything. It checks, in order: the file exists (and is not a
folder); a shipped checkpoint (a file in the package's checkpoint folder) has the sha256 its
manifest records; it is a complete safetensors file; the metadata carries our format version
and a config; the config is within bounds and builds a model; every expected tensor is
present with the expected shape and dtype (read from the header, before any tensor is read)
and nothing else is. Saving writes to a temporary file and renames it, so a crash never
leaves a half file under the final name.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..io.atomic import atomic_path
from .config import GeneratorConfig

__all__ = ["DEFAULT_CHECKPOINT", "SHIPPED_CHECKPOINTS", "CHECKPOINT_DIR", "MANIFEST", "shipped_checkpoint",
           "shipped_sizes", "FORMAT", "FORMAT_VERSION", "CheckpointError", "save_checkpoint", "load_checkpoint",
           "load_generator",
           "read_metadata", "sha256_file", "verify_shipped", "write_manifest"]

#: The checkpoint shipped inside the package (trained here; MODEL_CARD.md beside it):
#: what backend="star" loads when no checkpoint or config is given.
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "star_cpu.safetensors"
#: The package's checkpoint folder: every file in it is held to MANIFEST.
CHECKPOINT_DIR = DEFAULT_CHECKPOINT.parent
#: The sha256 of each shipped checkpoint, in `sha256sum` format (`sha256sum -c SHA256SUMS` checks
#: them by hand); written by train/ship.py whenever it copies checkpoints here.
MANIFEST = CHECKPOINT_DIR / "SHA256SUMS"
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

#: torch dtypes by their safetensors header name, to check a tensor's dtype before reading it.
_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}


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


def _require_file(path: Path) -> None:
    """A missing file and a folder given for a file are different mistakes: say which."""
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.safetensors"))[:5]
        hint = f" (it holds {', '.join(inside)})" if inside else ""
        raise IsADirectoryError(f"checkpoint {str(path)!r} is a directory, not a checkpoint file{hint}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}")


def sha256_file(path: str | Path) -> str:
    """The file's sha256 (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: str | Path, files: Iterable[str | Path]) -> Path:
    """Write folder/SHA256SUMS for `files` (those that exist; names relative to folder), atomically:
    what the loader holds the shipped checkpoints to."""
    folder = Path(folder)
    rows = sorted({Path(f).name for f in files if (folder / Path(f).name).is_file()})
    text = "".join(f"{sha256_file(folder / name)}  {name}\n" for name in rows)
    out = folder / MANIFEST.name
    with atomic_path(out, ".tmp") as tmp:
        Path(tmp).write_text(text)
    return out


def _read_manifest(manifest: Path) -> dict[str, str]:
    """name -> sha256 from a `sha256sum`-format file."""
    if not manifest.is_file():
        raise CheckpointError(f"the shipped checkpoints' manifest {str(manifest)!r} is missing; reinstall the "
                              "package (or run python -m inspatio_gym.train.ship to regenerate it)")
    sums: dict[str, str] = {}
    for i, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        name = name.lstrip("*")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not name:
            raise CheckpointError(f"manifest {str(manifest)!r} line {i} is not '<sha256>  <file>': {line!r}")
        sums[name] = digest
    return sums


#: (resolved path, mtime_ns, size, manifest mtime_ns, manifest size) of files verified in this process:
#: repeated env creation does not rehash a file that has not changed.
_VERIFIED: set[tuple[str, int, int, int, int]] = set()


def verify_shipped(path: str | Path) -> bool:
    """Check a file in the package's checkpoint folder against MANIFEST (raises CheckpointError
    naming the file and both hashes on a mismatch); a file elsewhere is the user's and is not
    held to it. Returns whether the file was a shipped one."""
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(CHECKPOINT_DIR.resolve()):
        return False
    st = resolved.stat()
    mst = MANIFEST.stat() if MANIFEST.is_file() else None
    key = (str(resolved), st.st_mtime_ns, st.st_size, mst.st_mtime_ns if mst else -1, mst.st_size if mst else -1)
    if key in _VERIFIED:
        return True
    name = resolved.relative_to(CHECKPOINT_DIR.resolve()).as_posix()
    sums = _read_manifest(MANIFEST)
    if name not in sums:
        raise CheckpointError(f"{str(path)!r} is in the package's checkpoint folder but not in its manifest "
                              f"{str(MANIFEST)!r}: not a shipped checkpoint; keep your own checkpoints elsewhere")
    actual = sha256_file(resolved)
    if actual != sums[name]:
        raise CheckpointError(f"shipped checkpoint {str(path)!r} has sha256 {actual}, but the manifest "
                              f"{str(MANIFEST)!r} records {sums[name]}: the file was modified or damaged; "
                              "reinstall the package")
    _VERIFIED.add(key)
    return True


def _read_header(path: Path) -> dict[str, Any]:
    """The safetensors header of a complete file (tensor entries and __metadata__), checked."""
    _require_file(path)
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
        shape = v.get("shape")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
                and isinstance(v.get("dtype"), str)):
            raise CheckpointError(f"{str(path)!r} is not a valid safetensors file (bad shape or dtype of tensor {k!r})")
        end = max(end, offs[1])
    if 8 + n + end > size:
        raise CheckpointError(f"checkpoint {str(path)!r} is truncated: {size} bytes, tensors need {8 + n + end}")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{str(path)!r} has malformed metadata (must map strings to strings)")
    return header


def read_metadata(path: str | Path, generator: bool = True) -> dict[str, str]:
    """The checkpoint's metadata, after checking the file is a complete safetensors file
    (and, with generator=True, a generator checkpoint of the version this code reads)."""
    path = Path(path)
    meta = _read_header(path).get("__metadata__") or {}
    if generator:
        _check_format(path, meta)
    return meta


def _check_format(path: Path, meta: dict[str, str]) -> None:
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is a safetensors file but not an inspatio_gym generator "
                              f"checkpoint (format {meta.get('format')!r}, expected {FORMAT!r})")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(f"checkpoint {str(path)!r} has format version {meta.get('format_version')!r}; "
                              f"this inspatio_gym reads version {FORMAT_VERSION}")


def _more(items: list[str]) -> str:
    return f"{items[:5]}{'...' if len(items) > 5 else ''}"


def load_checkpoint(path: str | Path, expect: GeneratorConfig | None = None
                    ) -> tuple[GeneratorConfig, dict[str, torch.Tensor], dict[str, str]]:
    """(config, state_dict, metadata) of a checkpoint, validated against a model built from it.

    With `expect`, the checkpoint's config must equal it. A shipped checkpoint is first
    checked against the package's manifest (verify_shipped).
    """
    from .generator import StarGenerator

    path = Path(path)
    _require_file(path)
    verify_shipped(path)
    header = _read_header(path)
    meta = header.get("__metadata__") or {}
    _check_format(path, meta)
    if "config" not in meta:
        raise CheckpointError(f"checkpoint {str(path)!r} has no model config in its metadata")
    try:  # the config's bounds are checked as it is parsed, before a model of its size is built
        cfg = GeneratorConfig.from_json(meta["config"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} has an invalid config: {e}") from None
    try:
        with torch.device("meta"):  # shapes only: an untrusted config allocates nothing
            reference = StarGenerator(cfg).state_dict()
    except Exception as e:  # any failure to build the model from the file's config
        raise CheckpointError(f"checkpoint {str(path)!r} has an invalid config: {type(e).__name__}: {e}") from None
    if expect is not None and cfg != expect:
        raise CheckpointError(f"checkpoint {str(path)!r} was saved with config {cfg}, expected {expect}")
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    missing = sorted(set(reference) - set(entries))
    unexpected = sorted(set(entries) - set(reference))
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {str(path)!r} does not match its config: missing tensors "
                              f"{_more(missing)}, unexpected {_more(unexpected)}")
    for k in sorted(entries):  # from the header: a wrong tensor is named before any is read
        shape, dtype = tuple(entries[k]["shape"]), _DTYPES.get(entries[k]["dtype"], entries[k]["dtype"])
        if shape != tuple(reference[k].shape) or dtype != reference[k].dtype:
            raise CheckpointError(f"checkpoint {str(path)!r}: tensor {k!r} is {shape} {dtype}, the config "
                                  f"expects {tuple(reference[k].shape)} {reference[k].dtype}")
    state: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            for k in sorted(entries):
                t = f.get_tensor(k)
                if t.shape != reference[k].shape or t.dtype != reference[k].dtype:  # the header lied
                    raise CheckpointError(f"checkpoint {str(path)!r}: tensor {k!r} is {tuple(t.shape)} "
                                          f"{t.dtype}, the config expects {tuple(reference[k].shape)} "
                                          f"{reference[k].dtype}")
                if not torch.isfinite(t).all():
                    raise CheckpointError(f"checkpoint {str(path)!r}: tensor {k!r} has non-finite values")
                state[k] = t
    except SafetensorError as e:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt: {e}") from None
    return cfg, state, meta


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> "StarGenerator":  # noqa: F821
    """The generator a checkpoint holds (load_checkpoint's checks), in eval mode on device."""
    from .generator import StarGenerator

    cfg, state, _ = load_checkpoint(path)
    gen = StarGenerator(cfg)
    gen.load_state_dict(state)
    return gen.eval().to(device)
