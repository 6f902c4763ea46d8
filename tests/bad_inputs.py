"""The bad-input matrix: every public surface a user touches, given something wrong.

A plain module (pytest does not collect it): `CASES` is the list that
`tests/test_bad_inputs.py` runs as parametrised tests and `benchmarks/bad_input_sweep.py`
counts. Each case is a zero-argument call that makes one bad call, the exception type(s) a
clear error has, and the substrings its message must contain (the bad value as the user
wrote it, or the parameter, key or file it is about). A message is `str(exc)` plus any
notes (`add_note`).

The files the cases need (a FIFO, random bytes, tiny videos, broken checkpoints, bad
training configs, ...) are written once, on first use, under a temporary folder this
module makes (`inputs()`; `make_inputs(folder)` writes them into any folder), never into
the repository. The library is imported inside the calls only, so this module also runs
against an older checkout (an API that did not exist there fails as whatever it raises).

Cases stay cheap: the 12-frame procedural world, 64 px, envs that many cases step shared
(each such case resets first; a failed step is all-or-nothing, so the next case starts from
the same state).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import pickle
import shutil
import signal
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["CASES", "Case", "CaseTimeout", "CliExit", "Inputs", "Outcome", "checked_text", "classify", "hard_timeout",
           "inputs", "make_inputs", "message"]

#: The tiny world every env case uses.
W = "procedural:num_frames=12"
#: Seconds a case may take before it counts as a hang.
TIMEOUT = 20.0


# ----------------------------------------------------------------------------- the case type
@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[], Any]
    raises: tuple[type[BaseException], ...]
    contains: tuple[str, ...]
    timeout: float = TIMEOUT


class CaseTimeout(BaseException):
    """A case ran past its timeout (a BaseException, so no `except Exception` swallows it)."""


class CliExit(Exception):
    """The command line ended with a non-zero status without a traceback: its code and stderr."""

    def __init__(self, code: object, stderr: str) -> None:
        super().__init__(f"exit status {code}: {stderr.strip()}")
        self.code, self.stderr = code, stderr


@dataclass(frozen=True)
class Outcome:
    """How a case ended: kind is "clear", "unclear", "hang" or "accepted"."""

    kind: str
    exc_type: str = ""
    message: str = ""
    missing: tuple[str, ...] = ()
    seconds: float = 0.0


def message(exc: BaseException) -> str:
    """str(exc) and the notes the code added to it."""
    notes = getattr(exc, "__notes__", None) or []
    return "\n".join([str(exc), *map(str, notes)])


#: What gym.make appends to a TypeError from an env's constructor: the call's kwargs, which
#: name every parameter and value given, so it is not what the checks read.
_GYM_SUFFIX = " was raised from the environment creator for "


def checked_text(exc: BaseException) -> str:
    """The part of the message a case's substrings are looked for in: without gym.make's
    kwargs dump, and with the random part of the inputs' temporary folder masked (a
    substring such as "nan" or "-1" must come from the message, not from a path)."""
    text = message(exc)
    head, sep, tail = text.partition(_GYM_SUFFIX)
    if sep:
        text = head + "".join("\n" + n for n in tail.split("\n")[1:])
    if _INPUTS is not None:
        text = text.replace(str(_INPUTS.root), "<inputs>")
    return text


@contextlib.contextmanager
def hard_timeout(seconds: float):
    """Raise CaseTimeout in the main thread after `seconds` (SIGALRM: Python code and
    interruptible system calls; a C loop that never returns to Python needs a child
    process: the sweep's --isolate)."""
    def fire(signum, frame):  # noqa: ARG001
        raise CaseTimeout(f"no answer within {seconds:g} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def warm() -> None:
    """Compile (or load from numba's cache) the warp's kernels before any case's timeout
    starts: in a fresh environment the first compile takes about 20 s on 2 cores, and more on
    a busy machine (a CI run beside other work timed a case out on it)."""
    env = _gym().make("InspatioWorld-v0")
    env.reset(seed=0)
    env.step(0)
    env.close()


def classify(case: Case) -> Outcome:
    """Run one case under its timeout and say how it ended."""
    import time

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with hard_timeout(case.timeout):
                case.call()
    except CaseTimeout as e:
        return Outcome("hang", "CaseTimeout", str(e), seconds=time.perf_counter() - t0)
    except BaseException as e:  # noqa: BLE001 - what the library raised is the measurement
        if isinstance(e, KeyboardInterrupt):
            raise
        msg = message(e)
        text = checked_text(e)
        missing = tuple(s for s in case.contains if s not in text)
        kind = "clear" if isinstance(e, case.raises) and not missing else "unclear"
        return Outcome(kind, f"{type(e).__module__}.{type(e).__qualname__}", msg, missing,
                       time.perf_counter() - t0)
    return Outcome("accepted", seconds=time.perf_counter() - t0)


# ----------------------------------------------------------------------------- input files
@dataclass
class Inputs:
    """Paths of the files the cases read (see make_inputs)."""

    root: Path
    missing: Path
    fifo: Path
    empty_file: Path
    random_mp4: Path
    text_file: Path
    video_1x1: Path
    video_40x8: Path
    video_ok: Path
    empty_dir: Path
    dir_bad_image: Path
    dir_mixed_sizes: Path
    dir_no_images: Path
    dir_tiny_images: Path
    traj_binary: Path
    traj_two_lines: Path
    traj_bad_number: Path
    traj_bad_yaw: Path
    traj_bad_r: Path
    traj_empty: Path
    traj_ok: Path
    ckpt_empty: Path
    ckpt_random: Path
    ckpt_truncated: Path
    ckpt_absurd_shape: Path
    ckpt_deep: Path
    ckpt_pickle: Path
    ckpt_torch_zip: Path
    ckpt_not_ours: Path
    ckpt_bad_version: Path
    ckpt_bad_config_json: Path
    ckpt_unknown_config_key: Path
    ckpt_huge_header: Path
    pickle_marker: Path
    depth_txt: Path
    depth_npz_nodepth: Path
    depth_npy_object: Path
    depth_npy_strings: Path
    cfg: dict[str, Path]
    out: Path
    cache: Path


class _Unpickled:
    """Unpickling this creates `path` (a marker: a loader that unpickles is caught)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _write_video(path: Path, w: int, h: int, n: int, fourcc: str) -> Path:
    import cv2

    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (w, h))
    rng = np.random.default_rng(0)
    for _ in range(n):
        vw.write(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    vw.release()
    return path


def _safetensors_bytes(header: dict, data: bytes = b"") -> bytes:
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    return len(blob).to_bytes(8, "little") + blob + data


def _shipped_checkpoint() -> Path:
    import inspatio_gym

    return Path(inspatio_gym.__file__).resolve().parent / "data" / "checkpoints" / "star_cpu.safetensors"


def make_inputs(folder: str | Path) -> Inputs:
    """Write every file the cases read into folder; returns their paths."""
    import cv2

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    p = lambda name: root / name  # noqa: E731
    fifo = p("pipe.mp4")
    os.mkfifo(fifo)
    p("empty.mp4").write_bytes(b"")
    p("random.mp4").write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    p("notes.txt").write_text("this is not a video\n")
    _write_video(p("tiny_1x1.avi"), 1, 1, 4, "MJPG")
    _write_video(p("tiny_40x8.mp4"), 40, 8, 4, "mp4v")
    _write_video(p("small.mp4"), 64, 48, 4, "mp4v")
    for d in ("empty_dir", "bad_image", "mixed_sizes", "no_images", "tiny_images"):
        p(d).mkdir()
    (p("bad_image") / "000.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    cv2.imwrite(str(p("mixed_sizes") / "000.png"), np.zeros((32, 32, 3), np.uint8))
    cv2.imwrite(str(p("mixed_sizes") / "001.png"), np.zeros((24, 40, 3), np.uint8))
    (p("no_images") / "readme.txt").write_text("no images here\n")
    for i in range(3):
        cv2.imwrite(str(p("tiny_images") / f"{i:03d}.png"), np.full((1, 1, 3), 50 * i, np.uint8))
    # trajectories
    p("traj_binary.txt").write_bytes(bytes(range(256)) * 4)
    p("traj_two_lines.txt").write_text("0 10 20\n0 0 0\n")
    p("traj_bad_number.txt").write_text("0 ten 20\n0 0 0\n1 1 1\n")
    p("traj_bad_yaw.txt").write_text("0 10 20\n0 nan 0\n1 1 1\n")
    p("traj_bad_r.txt").write_text("0 10 20\n0 0 0\n1 inf 1\n")
    p("traj_empty.txt").write_text("")
    p("traj_ok.txt").write_text("0 5 10\n0 -5 -10\n0.1 0.1 0.1\n")
    # checkpoints
    shipped = _shipped_checkpoint().read_bytes()
    n = int.from_bytes(shipped[:8], "little")
    header = json.loads(shipped[8:8 + n])
    data = shipped[8 + n:]
    meta = header["__metadata__"]
    config = json.loads(meta["config"])
    p("empty.safetensors").write_bytes(b"")
    p("random.safetensors").write_bytes(np.random.default_rng(2).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    p("truncated.safetensors").write_bytes(shipped[: len(shipped) // 2])
    absurd = dict(header)
    name = sorted(k for k in header if k != "__metadata__")[0]
    absurd[name] = {**header[name], "shape": [2**40, 2**40]}
    p("absurd_shape.safetensors").write_bytes(_safetensors_bytes(absurd, data))
    deep = json.loads(json.dumps(config))
    deep["dit"]["depth"] = 20000
    p("deep.safetensors").write_bytes(_safetensors_bytes({"__metadata__": {**meta, "config": json.dumps(deep)}}))
    marker = p("UNPICKLED")
    p("pickle.safetensors").write_bytes(pickle.dumps({"weights": _Unpickled(marker)}))
    import zipfile

    with zipfile.ZipFile(p("torch_zip.safetensors"), "w") as z:  # the layout torch.save writes
        z.writestr("archive/data.pkl", pickle.dumps(_Unpickled(marker)))
    p("not_ours.safetensors").write_bytes(_safetensors_bytes({"__metadata__": {"format": "pt"}}))
    p("bad_version.safetensors").write_bytes(_safetensors_bytes({"__metadata__": {**meta, "format_version": "99"}}))
    p("bad_config_json.safetensors").write_bytes(
        _safetensors_bytes({"__metadata__": {**meta, "config": "{not json"}}))
    extra = {**config, "wings": 2}
    p("unknown_key.safetensors").write_bytes(_safetensors_bytes({"__metadata__": {**meta, "config": json.dumps(extra)}}))
    p("huge_header.safetensors").write_bytes((10**12).to_bytes(8, "little") + b"{}")
    # depth files
    p("depth.txt").write_text("1 2 3\n")
    np.savez(p("nodepth.npz"), poses=np.eye(4)[None])
    np.save(p("object.npy"), np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(p("strings.npy"), np.full((4, 48, 64), "far"))
    # training configs
    cfgs = {
        "lr_str": 'stage = "vae"\nlr = "fast"\n',
        "lr_inf": 'stage = "vae"\nlr = inf\n',
        "betas5": 'stage = "vae"\nbetas = 5\n',
        "wd_str": 'stage = "vae"\nweight_decay = "none"\n',
        "unknown": 'stage = "vae"\nlearning_rate = 0.1\n',
        "neg_steps": 'stage = "vae"\nsteps = -5\n',
        "batch_zero": 'stage = "vae"\nbatch = 0\n',
        "float_steps": 'stage = "vae"\nsteps = 2.5\n',
        "ema_one": 'stage = "teacher"\nema = 1.0\n',
        "stage_bad": 'stage = "dance"\n',
        "model_bad": 'stage = "vae"\nmodel = "huge"\n',
        "size_key": 'stage = "vae"\nsize = 64\n',
        "other_stage": 'stage = "vae"\nsigma_shift = 3.0\n',
        "loss_str": 'stage = "vae"\n[loss]\nl1 = "one"\n',
        "not_toml": 'stage = "vae"\nlr = = 3\n',
        "ok_vae": 'stage = "vae"\nsteps = 1\n',
    }
    cfg = {}
    (root / "configs").mkdir()
    for k, text in cfgs.items():
        cfg[k] = root / "configs" / f"{k}.toml"
        cfg[k].write_text(text)
    cfg["binary"] = root / "configs" / "binary.toml"
    cfg["binary"].write_bytes(bytes(range(128, 256)) * 4)
    cfg["dir"] = root / "configs" / "a_folder.toml"
    cfg["dir"].mkdir()
    (root / "out").mkdir()
    (root / "cache").mkdir()
    return Inputs(
        root=root, missing=p("no_such_clip.mp4"), fifo=fifo, empty_file=p("empty.mp4"), random_mp4=p("random.mp4"),
        text_file=p("notes.txt"), video_1x1=p("tiny_1x1.avi"), video_40x8=p("tiny_40x8.mp4"),
        video_ok=p("small.mp4"), empty_dir=p("empty_dir"), dir_bad_image=p("bad_image"),
        dir_mixed_sizes=p("mixed_sizes"), dir_no_images=p("no_images"), dir_tiny_images=p("tiny_images"),
        traj_binary=p("traj_binary.txt"), traj_two_lines=p("traj_two_lines.txt"),
        traj_bad_number=p("traj_bad_number.txt"), traj_bad_yaw=p("traj_bad_yaw.txt"), traj_bad_r=p("traj_bad_r.txt"),
        traj_empty=p("traj_empty.txt"), traj_ok=p("traj_ok.txt"),
        ckpt_empty=p("empty.safetensors"), ckpt_random=p("random.safetensors"),
        ckpt_truncated=p("truncated.safetensors"), ckpt_absurd_shape=p("absurd_shape.safetensors"),
        ckpt_deep=p("deep.safetensors"), ckpt_pickle=p("pickle.safetensors"),
        ckpt_torch_zip=p("torch_zip.safetensors"), ckpt_not_ours=p("not_ours.safetensors"),
        ckpt_bad_version=p("bad_version.safetensors"), ckpt_bad_config_json=p("bad_config_json.safetensors"),
        ckpt_unknown_config_key=p("unknown_key.safetensors"), ckpt_huge_header=p("huge_header.safetensors"),
        pickle_marker=marker, depth_txt=p("depth.txt"), depth_npz_nodepth=p("nodepth.npz"),
        depth_npy_object=p("object.npy"), depth_npy_strings=p("strings.npy"), cfg=cfg, out=root / "out",
        cache=root / "cache",
    )


_INPUTS: Inputs | None = None


def inputs() -> Inputs:
    """The input files, written on first use under a temporary folder (removed at exit).
    Preprocessed worlds go to a cache inside it unless INSPATIO_GYM_CACHE is set."""
    global _INPUTS
    if _INPUTS is None:
        root = Path(tempfile.mkdtemp(prefix="inspatio-bad-inputs-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _INPUTS = make_inputs(root)
        os.environ.setdefault("INSPATIO_GYM_CACHE", str(_INPUTS.cache))
    return _INPUTS


# ----------------------------------------------------------------------------- helpers the cases call
def _gym():
    import gymnasium as gym

    import inspatio_gym  # noqa: F401  (registers the ids)

    return gym


def make(env_id: str = "InspatioWorld-v0", reset: bool = True, **kw: Any) -> Any:
    """gym.make with the tiny world (unless a source is given), then reset: a bad value
    must be refused by one of the two, whichever the env checks it in."""
    if "video" not in kw and "world" not in kw:
        kw["world"] = W
    env = _gym().make(env_id, **kw)
    if reset:
        env.reset(seed=0)
    return env


def make_vec(reset: bool = True, **kw: Any) -> Any:
    kw.setdefault("world", W)
    kw.setdefault("num_envs", 2)
    venv = _gym().make_vec("InspatioWorld-v0", **kw)
    if reset:
        venv.reset(seed=0)
    return venv


def video(path: Path, **world_options: Any) -> Any:
    """gym.make on a video, then reset (where the world is built)."""
    return make(video=str(path), world_options=world_options or None)


_SHARED: dict[str, Any] = {}


def env(kind: str = "discrete") -> Any:
    """A shared, freshly reset env of the given action mode (built once)."""
    if kind not in _SHARED:
        _SHARED[kind] = make(action_mode=kind, reset=False)
    e = _SHARED[kind]
    e.reset(seed=0)
    return e


def venv() -> Any:
    if "vec" not in _SHARED:
        _SHARED["vec"] = make_vec(reset=False)
    v = _SHARED["vec"]
    v.reset(seed=0)
    return v


def agents() -> Any:
    if "ma" not in _SHARED:
        from inspatio_gym.envs.multi_agent import parallel_env

        _SHARED["ma"] = parallel_env(num_agents=2, world=W)
    m = _SHARED["ma"]
    m.reset(seed=0)
    return m


def parallel(**kw: Any) -> Any:
    from inspatio_gym.envs.multi_agent import parallel_env

    kw.setdefault("world", W)
    m = parallel_env(**kw)
    m.reset(seed=0)
    return m


def pose(R: Any = None, t: Any = (0.0, 0.0, 0.0), last: Any = (0.0, 0.0, 0.0, 1.0)) -> np.ndarray:
    c2w = np.eye(4)
    if R is not None:
        c2w[:3, :3] = R
    c2w[:3, 3] = t
    c2w[3] = last
    return c2w


def step_pose(c2w: Any, kind: str = "discrete") -> Any:
    return env(kind).unwrapped.step_pose(c2w)


def world_env(**kw: Any) -> Any:
    from inspatio_gym.envs.world_env import WorldEnv

    kw.setdefault("world", W)
    return WorldEnv(**kw)


def cli(*argv: Any) -> Any:
    """inspatio_gym.cli.main in this process, its output captured: a non-zero status
    without a traceback raises CliExit (code and stderr); an exception escaping main
    propagates as itself (a traceback for the user)."""
    from inspatio_gym.cli import main

    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    if code in (0, None):
        return code
    raise CliExit(code, err.getvalue())


def rollout(*argv: Any) -> Any:
    """`inspatio-gym rollout` on the tiny world, 2 steps, writing only to the temp folder."""
    args = list(argv)
    if "--video" not in args and "--world" not in args:
        args += ["--world", W]
    if "--steps" not in args:
        args += ["--steps", "2"]
    return cli("rollout", *args, "--out", inputs().out / "rollout")


def traj(path: Path) -> Any:
    from inspatio_gym.geometry.trajectory import load_trajectory

    return load_trajectory(path)


def parse(text: Any) -> Any:
    from inspatio_gym.geometry.trajectory import parse_trajectory

    return parse_trajectory(text, name="t")


def resolve(name: Any) -> Any:
    from inspatio_gym.rollout import resolve_trajectory

    return resolve_trajectory(name)


def settings(**kw: Any) -> Any:
    from inspatio_gym.recon.preprocess import PreprocessSettings

    return PreprocessSettings(**kw)


def preprocess(path: Any, **kw: Any) -> Any:
    from inspatio_gym.recon.preprocess import PreprocessSettings, preprocess_video

    s = kw.pop("settings", None)
    return preprocess_video(path, PreprocessSettings(**kw) if s is None else s, progress=False)


def video_world(path: Any = None, **kw: Any) -> Any:
    from inspatio_gym.world import video_world as vw

    kw.setdefault("geometry", "plane")
    kw.setdefault("progress", False)
    return vw(inputs().video_ok if path is None else path, 32, 24, **kw)


def array_world(frames: Any = None, **kw: Any) -> Any:
    from inspatio_gym.world import array_world as aw

    return aw(np.zeros((4, 24, 32, 3), np.uint8) if frames is None else frames, **kw)


def procedural(**kw: Any) -> Any:
    from inspatio_gym.world import procedural_world

    kw.setdefault("num_frames", 4)
    kw.setdefault("width", 32)
    kw.setdefault("height", 32)
    return procedural_world(**kw)


def load_world(source: Any, **kw: Any) -> Any:
    from inspatio_gym.world import load_world as lw

    return lw(source, 32, 32, **kw)


def ckpt(path: Path) -> Any:
    from inspatio_gym.model.checkpoint import load_checkpoint

    return load_checkpoint(path)


def ckpt_no_unpickle(path: Path, via_env: bool = False) -> Any:
    """Load a pickle dressed as a checkpoint; if the loader unpickled it, say so instead."""
    marker = inputs().pickle_marker
    try:
        if via_env:
            make(backend="star", backend_options={"checkpoint": str(path)}, reset=False)
        else:
            ckpt(path)
    finally:
        if marker.exists():
            marker.unlink()
            raise RuntimeError(f"the loader UNPICKLED {str(path)!r}")


def star(**options: Any) -> Any:
    """gym.make with backend='star' and these backend_options."""
    return make(backend="star", backend_options=options)


def train_config(key: str) -> Any:
    from inspatio_gym.train.config import load_run_config

    return load_run_config(inputs().cfg[key])


def world_env_positional(*args: Any) -> Any:
    from inspatio_gym.envs.world_env import WorldEnv

    return WorldEnv(*args)


def interpolate(keys: Any, n: int) -> Any:
    from inspatio_gym.geometry.trajectory import interpolate_keys

    return interpolate_keys(keys, n)


def traj_poses(source_c2w: Any, **kw: Any) -> Any:
    from inspatio_gym.geometry.trajectory import trajectory_poses

    return trajectory_poses(traj(inputs().traj_ok), source_c2w, **kw)


def cached(path: Any) -> Any:
    from inspatio_gym.recon.disk_cache import preprocessed

    return preprocessed(path, progress=False)


def geometry_dir(path: Any, **kw: Any) -> Any:
    from inspatio_gym.recon.external import load_geometry_dir

    return load_geometry_dir(path, **kw)


def seven_scenes(path: Any) -> Any:
    from inspatio_gym.world import seven_scenes_world

    return seven_scenes_world(path, 32, 24)


def ckpt_meta(path: Path) -> Any:
    from inspatio_gym.model.checkpoint import read_metadata

    return read_metadata(path)


def gen_config_json(text: str) -> Any:
    from inspatio_gym.model.config import GeneratorConfig

    return GeneratorConfig.from_json(text)


def gen_config(**kw: Any) -> Any:
    """A generator config from a JSON object of these keys (as a checkpoint carries it)."""
    return gen_config_json(json.dumps(kw))


def load_config(path: Path) -> Any:
    from inspatio_gym.train.config import load_run_config

    return load_run_config(path)


def gym_error(name: str) -> type[BaseException]:
    import gymnasium.error

    return getattr(gymnasium.error, name)


def _lazy_gym_error(name: str) -> type[BaseException]:
    """gymnasium's error class, resolved when CASES is built (gymnasium is a dependency)."""
    return gym_error(name)


# ----------------------------------------------------------------------------- the cases
V, T, F, K, R, O = ValueError, TypeError, FileNotFoundError, KeyError, RuntimeError, OSError
CASES: list[Case] = []


def case(id: str, call: Callable[[], Any], raises: Any, *contains: str, timeout: float = TIMEOUT) -> None:
    if any(c.id == id for c in CASES):
        raise ValueError(f"duplicate case id {id!r}")
    CASES.append(Case(id, call, raises if isinstance(raises, tuple) else (raises,), contains, timeout))


I = inputs  # noqa: E741  (the paths are looked up when a case runs)
GymError = _lazy_gym_error("Error")
ResetNeeded = _lazy_gym_error("ResetNeeded")

# -- gym.make("InspatioWorld-v0", world=...) ------------------------------------------------
case("make-world-typo", lambda: make(world="procedurl:seed=1"), V, "procedurl:seed=1")
case("make-world-int", lambda: make(world=42), (V, T), "42")
case("make-world-seed-abc", lambda: make(world="procedural:seed=abc"), V, "abc", "seed")
case("make-world-unknown-key", lambda: make(world="procedural:colour=red"), V, "colour")
case("make-world-num-frames-0", lambda: make(world="procedural:num_frames=0"), V, "num_frames", "0")
case("make-world-num-frames-neg", lambda: make(world="procedural:num_frames=-3"), V, "num_frames", "-3")
case("make-world-kind", lambda: make(world="procedural:kind=castle"), V, "castle")
case("make-world-path", lambda: make(world="procedural:path=zigzag"), V, "zigzag")
case("make-world-list-single-env", lambda: make(world=[W, W]), V, "one source")
case("make-video-and-world", lambda: make(video=str(I().video_ok), world=W), V, "not both")
case("make-positional-too-many", lambda: world_env_positional(*range(13)), T, "positional")
# -- video= -----------------------------------------------------------------------------------
case("make-video-missing", lambda: make(video=str(I().missing)), F, "no_such_clip.mp4")
case("make-video-int", lambda: make(video=123), T, "int")
case("make-video-empty-dir", lambda: make(video=str(I().empty_dir)), V, "empty_dir")
case("make-video-fifo", lambda: make(video=str(I().fifo)), V, "pipe.mp4", "FIFO")
case("make-video-dev-zero", lambda: make(video="/dev/zero"), V, "/dev/zero", "character device")
case("make-video-empty-file", lambda: make(video=str(I().empty_file)), V, "empty.mp4")
case("make-video-random-bytes", lambda: make(video=str(I().random_mp4)), V, "random.mp4")
case("make-video-text-file", lambda: make(video=str(I().text_file)), V, "notes.txt")
case("make-video-1x1", lambda: make(video=str(I().video_1x1)), V, "1x1")
case("make-video-40x8", lambda: make(video=str(I().video_40x8)), V, "40x8")
case("make-video-dir-bad-image", lambda: make(video=str(I().dir_bad_image)), V, "000.png")
case("make-video-dir-mixed-sizes", lambda: make(video=str(I().dir_mixed_sizes)), V, "001.png")
case("make-video-dir-no-images", lambda: make(video=str(I().dir_no_images)), V, "no_images")
case("make-video-dir-1x1-images", lambda: make(video=str(I().dir_tiny_images)), V, "1x1")
case("vec-video-empty-list", lambda: make_vec(video=[], world=None), V, "empty")
case("vec-video-list-missing", lambda: make_vec(video=[str(I().video_ok), str(I().missing)], world=None),
     F, "no_such_clip.mp4")
case("vec-world-list-bad-entry", lambda: make_vec(world=[W, "procedural:seed=x"]), V, "seed=x")
# -- geometry= (world_options) ----------------------------------------------------------------
case("make-geometry-typo", lambda: video(I().video_ok, geometry="plan"), F, "'plan'")
case("make-geometry-int", lambda: video(I().video_ok, geometry=5), T, "int")
case("make-geometry-missing-dir", lambda: video(I().video_ok, geometry=str(I().root / "nogeo")), F, "nogeo")
case("make-geometry-empty-dir", lambda: video(I().video_ok, geometry=str(I().empty_dir)), V, "empty_dir")
case("make-geometry-a-file", lambda: video(I().video_ok, geometry=str(I().text_file)), V, "notes.txt")
case("make-geometry-with-depth", lambda: video(I().video_ok, geometry=str(I().empty_dir), depth=np.ones((4, 24, 32))),
     V, "cannot be combined")
# -- width / height -----------------------------------------------------------------------------
for _name, _v, _shown in (("width", 0, "0"), ("width", -64, "-64"), ("width", 64.5, "64.5"), ("width", "64", "'64'"),
                          ("width", 10**6, "1000000"), ("width", True, "True"), ("width", 4, "4"),
                          ("height", 0, "0"), ("height", -1, "-1"), ("height", 32.0, "32.0"),
                          ("height", "abc", "'abc'"), ("height", 10**9, "1000000000")):
    case(f"make-{_name}-{_shown.strip(chr(39))}", (lambda n=_name, v=_v: make(**{n: v})), V, _name, _shown)
# -- field of view -----------------------------------------------------------------------------
for _fov in ("wide", "abc", 0, 180, -5, float("nan")):
    case(f"make-procedural-fov-{_fov}", (lambda f=_fov: make(world_options={"fov": f})), V, "fov", repr(_fov))
    case(f"video-world-fov-{_fov}", (lambda f=_fov: video_world(fov=f)), V, "fov", repr(_fov))
case("make-procedural-fps-str", lambda: make(world_options={"fps": "fast"}), V, "fps", "'fast'")
case("make-procedural-fps-0", lambda: make(world_options={"fps": 0}), V, "fps", "0")
case("make-procedural-supersample-0", lambda: make(world_options={"supersample": 0}), V, "supersample", "0")
case("make-procedural-num-frames-float", lambda: make(world="procedural:seed=0", world_options={"num_frames": 2.5}),
     V, "num_frames", "2.5")
case("make-world-spec-conflict", lambda: make(world_options={"num_frames": 30}), V, "num_frames=30", W)
case("make-world-options-unknown", lambda: make(world_options={"bogus": 1}), V, "bogus")
case("make-world-options-str", lambda: make(world_options="max_frames=3"), T, "world_options", "str")
case("make-video-stride-0", lambda: video(I().video_ok, geometry="plane", stride=0), V, "stride", "0")
case("make-video-stride-float", lambda: video(I().video_ok, geometry="plane", stride=1.5), V, "stride", "1.5")
case("make-video-max-frames-neg", lambda: video(I().video_ok, geometry="plane", max_frames=-1), V, "max_frames", "-1")
case("make-video-max-frames-str", lambda: video(I().video_ok, geometry="plane", max_frames="10"), V, "max_frames",
     "'10'")
case("make-video-pattern-on-file", lambda: video(I().video_ok, geometry="plane", pattern="*.png"), V, "pattern")
# -- backend / backend_options ------------------------------------------------------------------
case("make-backend-typo", lambda: make(backend="wrap"), V, "'wrap'")
case("make-backend-int", lambda: make(backend=3), V, "3")
case("make-backend-options-str", lambda: make(backend_options="fast"), T, "backend_options", "str")
case("make-warp-alpha-neg", lambda: make(backend_options={"alpha": -1}), V, "alpha", "-1")
case("make-warp-alpha-nan", lambda: make(backend_options={"alpha": float("nan")}), V, "alpha", "nan")
case("make-warp-inpaint", lambda: make(backend_options={"inpaint": "magic"}), V, "'magic'")
case("make-warp-neighbours-float", lambda: make(backend_options={"neighbours": 1.5}), V, "neighbours", "1.5")
case("make-warp-surface", lambda: make(backend_options={"surface": "voxel"}), V, "'voxel'")
case("make-warp-unknown-option", lambda: make(backend_options={"bogus": 1}), (V, T), "bogus")
case("make-warp-star-option", lambda: make(backend_options={"checkpoint": "x.safetensors"}), V, "checkpoint")
case("make-star-config-typo", lambda: star(config="huge"), V, "'huge'")
case("make-star-config-int", lambda: star(config=3), (T, V), "config", "3")
case("make-star-device-typo", lambda: star(device="tpu"), V, "'tpu'")
case("make-star-threads-0", lambda: star(threads=0), V, "threads", "0")
case("make-star-threads-str", lambda: star(threads="2"), V, "threads", "'2'")
case("make-star-sampler-steps-9", lambda: star(sampler_steps=9), V, "steps", "9")
case("make-star-sampler-steps-float", lambda: star(sampler_steps=1.5), V, "sampler_steps", "1.5")
case("make-star-context", lambda: star(context=("future",)), V, "future")
case("make-star-wrong-size", lambda: make(backend="star", width=48, height=48), V, "48x48")
# -- checkpoints through backend_options ---------------------------------------------------------
case("make-star-ckpt-missing", lambda: star(checkpoint=str(I().missing)), F, "no_such_clip.mp4")
case("make-star-ckpt-dir", lambda: star(checkpoint=str(I().empty_dir)), (IsADirectoryError, V), "empty_dir")
case("make-star-ckpt-empty", lambda: star(checkpoint=str(I().ckpt_empty)), V, "empty.safetensors")
case("make-star-ckpt-random", lambda: star(checkpoint=str(I().ckpt_random)), V, "random.safetensors")
case("make-star-ckpt-truncated", lambda: star(checkpoint=str(I().ckpt_truncated)), V, "truncated.safetensors")
case("make-star-ckpt-int", lambda: star(checkpoint=123), T, "checkpoint", "int")
case("make-star-ckpt-deep", lambda: star(checkpoint=str(I().ckpt_deep)), V, "dit.depth", "20000", timeout=5.0)
case("make-star-ckpt-pickle", lambda: ckpt_no_unpickle(I().ckpt_pickle, via_env=True), V, "pickle.safetensors")
# -- modes, render_mode, limits ------------------------------------------------------------------
case("make-time-mode", lambda: make(time_mode="rewind"), V, "'rewind'")
case("make-time-mode-none", lambda: make(time_mode=None), V, "time_mode", "None")
case("make-action-mode", lambda: make(action_mode="joystick"), V, "'joystick'")
case("make-action-mode-int", lambda: make(action_mode=1), V, "action_mode", "1")
case("make-obs-mode", lambda: make(obs_mode="depth"), V, "'depth'")
case("make-render-mode", lambda: make(render_mode="video"), V, "'video'")
case("worldenv-render-mode-int", lambda: world_env(render_mode=3), (V, T), "render_mode", "3")
case("make-max-episode-steps-0", lambda: make(max_episode_steps=0), (V, AssertionError), "max_episode_steps", "0")
case("make-max-episode-steps-neg", lambda: make(max_episode_steps=-5), (V, AssertionError), "max_episode_steps", "-5")
case("make-max-episode-steps-str", lambda: make(max_episode_steps="100"), (V, T, AssertionError),
     "max_episode_steps", "100")
case("vec-max-episode-steps-0", lambda: make_vec(max_episode_steps=0), V, "max_episode_steps", "0")
case("vec-max-episode-steps-float", lambda: make_vec(max_episode_steps=2.5), V, "max_episode_steps", "2.5")
case("vec-autoreset-mode", lambda: make_vec(autoreset_mode="never"), V, "'never'")
case("make-min-coverage-1.5", lambda: make(min_coverage=1.5), V, "min_coverage", "1.5")
case("make-min-coverage-neg", lambda: make(min_coverage=-0.1), V, "min_coverage", "-0.1")
case("make-min-coverage-str", lambda: make(min_coverage="high"), V, "min_coverage", "'high'")
case("make-min-coverage-nan", lambda: make(min_coverage=float("nan")), V, "min_coverage", "nan")
case("make-move-step-neg", lambda: make(move_step=-1), V, "move_step", "-1")
case("make-turn-step-inf", lambda: make(turn_step=float("inf")), V, "turn_step", "inf")
case("make-pitch-limit-95", lambda: make(pitch_limit=95), V, "pitch_limit", "95")
case("make-leash-str", lambda: make(leash="far"), V, "leash", "'far'")
case("make-collision-radius-neg", lambda: make(collision_radius=-0.1), V, "collision_radius", "-0.1")
case("make-allow-roll-str", lambda: make(allow_roll="yes"), V, "allow_roll", "'yes'")
case("make-vertical-int", lambda: make(vertical=1), V, "vertical", "1")
case("make-unknown-kwarg", lambda: make(speed=3), V, "speed")
case("make-depth-range-0", lambda: make(depth_range=0), V, "depth_range", "0")
case("make-depth-range-str", lambda: make(depth_range="far"), V, "depth_range", "'far'")
# -- tasks and the task ids -----------------------------------------------------------------------
case("make-task-typo", lambda: make(task="race"), V, "'race'")
case("make-task-options-str", lambda: make(task="pointnav", task_options="x"), T, "task_options", "str")
case("make-task-options-unknown", lambda: make(task="pointnav", task_options={"radius": 1}), V, "radius")
case("make-pointnav-success-radius-neg", lambda: make("InspatioPointNav-v0", task_options={"success_radius": -1}),
     V, "success_radius", "-1")
case("make-pointnav-success-radius-str", lambda: make("InspatioPointNav-v0", task_options={"success_radius": "big"}),
     V, "success_radius", "'big'")
case("make-pointnav-success-radius-nan",
     lambda: make("InspatioPointNav-v0", task_options={"success_radius": float("nan")}), V, "success_radius", "nan")
case("make-pointnav-distances", lambda: make("InspatioPointNav-v0", task_options={"min_distance": 0.9}),
     V, "min_distance", "0.9")
case("make-explore-voxel-0", lambda: make("InspatioExplore-v0", task_options={"voxel": 0}), V, "voxel", "0")
case("make-explore-voxel-nan", lambda: make("InspatioExplore-v0", task_options={"voxel": float("nan")}),
     V, "voxel", "nan")
case("make-explore-voxel-str", lambda: make("InspatioExplore-v0", task_options={"voxel": "fine"}),
     V, "voxel", "'fine'")
case("make-pointnav-width-0", lambda: make("InspatioPointNav-v0", width=0), V, "width", "0")
case("make-imagenav-action-mode", lambda: make("InspatioImageNav-v0", action_mode="teleport"), V, "'teleport'")
case("make-explore-time-mode", lambda: make("InspatioExplore-v0", time_mode="backwards"), V, "'backwards'")
case("make-id-version", lambda: make("InspatioWorld-v1"), gym_error("Error"), "InspatioWorld", "v1")
case("make-id-typo", lambda: make("InspatioWrld-v0"), gym_error("Error"), "InspatioWrld")
# -- gym.make_vec(num_envs=...) ------------------------------------------------------------------------
for _n in (0, -2, 2.5, "4", True):
    case(f"vec-num-envs-{_n}", (lambda n=_n: make_vec(num_envs=n)), V, "num_envs", repr(_n))
# -- the PettingZoo env ----------------------------------------------------------------------------------
for _n in (0, -1, 2.5, "3"):
    case(f"ma-num-agents-{_n}", (lambda n=_n: parallel(num_agents=n)), V, "num_agents", repr(_n))
case("ma-num-agents-50", lambda: parallel(num_agents=50), V, "50 agents")
case("ma-separation-neg", lambda: parallel(separation=-1), V, "separation", "-1")
case("ma-separation-str", lambda: parallel(separation="wide"), V, "separation", "'wide'")
case("ma-separation-nan", lambda: parallel(separation=float("nan")), V, "separation", "nan")
case("ma-max-cycles-0", lambda: parallel(max_cycles=0), V, "max_cycles", "0")
case("ma-max-cycles-float", lambda: parallel(max_cycles=1.5), V, "max_cycles", "1.5")
case("ma-render-mode", lambda: parallel(render_mode="video"), V, "'video'")
case("ma-world-typo", lambda: parallel(world="procedural:kind=castle"), V, "castle")
case("ma-width-0", lambda: parallel(width=0), V, "width", "0")
case("ma-reset-start-frame-99", lambda: agents().reset(options={"start_frame": 99}), V, "start_frame", "99")
case("ma-reset-start-frame-str", lambda: agents().reset(options={"start_frame": "a"}), V, "start_frame", "'a'")
case("ma-reset-seed-str", lambda: agents().reset(seed="x"), (V, T, GymError), "seed", "'x'")
case("ma-reset-options-str", lambda: agents().reset(options="x"), T, "options", "str")
case("ma-step-missing-agent", lambda: agents().step({"camera_0": 0}), V, "camera_1")
case("ma-step-unknown-agent", lambda: agents().step({"camera_0": 0, "camera_1": 0, "camera_9": 0}), V, "camera_9")
case("ma-step-action-range", lambda: agents().step({"camera_0": 0, "camera_1": 9}), V, "9")
case("ma-step-not-dict", lambda: agents().step([0, 0]), (V, T), "dict")
case("ma-observation-space-agent", lambda: agents().observation_space("camera_7"), V, "camera_7")
# -- reset() ------------------------------------------------------------------------------------------------
case("reset-seed-str", lambda: env().reset(seed="abc"), (V, T, GymError), "str")
case("reset-seed-neg", lambda: env().reset(seed=-1), (V, GymError), "-1")
case("reset-seed-float", lambda: env().reset(seed=1.5), (V, T, GymError), "float")
case("reset-start-frame-99", lambda: env().reset(options={"start_frame": 99}), V, "start_frame", "99")
case("reset-start-frame-neg", lambda: env().reset(options={"start_frame": -1}), V, "start_frame", "-1")
case("reset-start-frame-float", lambda: env().reset(options={"start_frame": 2.5}), V, "start_frame", "2.5")
case("reset-start-frame-str", lambda: env().reset(options={"start_frame": "0"}), V, "start_frame", "'0'")
case("reset-options-unknown", lambda: env().reset(options={"bogus": 1}), V, "bogus")
case("reset-options-str", lambda: env().reset(options="start_frame=3"), T, "options", "str")
case("reset-reset-mask-single-env", lambda: env().reset(options={"reset_mask": [True]}), V, "reset_mask")
case("vreset-seed-str", lambda: venv().reset(seed="abc"), (V, T, GymError), "seed", "'abc'")
case("vreset-seed-float", lambda: venv().reset(seed=1.5), (V, T, GymError), "seed", "1.5")
case("vreset-seed-list-bad-entry", lambda: venv().reset(seed=[1, "x"]), (V, T, GymError), "seed", "'x'")
case("vreset-seed-list-short", lambda: venv().reset(seed=[1]), V, "seed", "2")
case("vreset-reset-mask-ints", lambda: venv().reset(options={"reset_mask": np.array([1, 0])}), V, "reset_mask")
case("vreset-reset-mask-none-true", lambda: venv().reset(options={"reset_mask": np.zeros(2, bool)}), V, "reset_mask")
case("vreset-reset-mask-shape", lambda: venv().reset(options={"reset_mask": np.ones(3, bool)}), V, "reset_mask")
case("vreset-start-frame-99", lambda: venv().reset(options={"start_frame": [0, 99]}), V, "99")
case("vreset-start-frame-float", lambda: venv().reset(options={"start_frame": [0.5, 1]}), V, "start_frame")
case("vreset-start-frame-three", lambda: venv().reset(options={"start_frame": [0, 0, 0]}), V, "start_frame")
case("vreset-options-unknown", lambda: venv().reset(options={"bogus": 1}), V, "bogus")
# -- step() ------------------------------------------------------------------------------------------------
case("step-before-reset-gym", lambda: make(reset=False).step(0), (ResetNeeded, R), "reset")
case("step-before-reset-worldenv", lambda: world_env().step(0), R, "reset")
case("step-pose-before-reset", lambda: world_env().step_pose(np.eye(4)), R, "reset")
case("vstep-before-reset", lambda: make_vec(reset=False).step([0, 0]), R, "reset")
case("step-discrete-9", lambda: env().step(9), V, "9")
case("step-discrete-neg", lambda: env().step(-1), V, "-1")
case("step-discrete-float", lambda: env().step(1.5), V, "1.5")
case("step-discrete-str", lambda: env().step("forward"), V, "'forward'")
case("step-discrete-list", lambda: env().step([1, 2]), V, "[1, 2]")
case("step-discrete-none", lambda: env().step(None), V, "None")
case("step-discrete-array-1", lambda: env().step(np.array([3])), V, "array([3])")
case("step-discrete-bool", lambda: env().step(True), V, "True")
case("step-discrete-nan", lambda: env().step(float("nan")), V, "nan")
case("step-discrete-huge", lambda: env().step(2**63), V, str(2**63))
case("step-discrete-box", lambda: env().step(np.zeros(6, np.float32)), V, "discrete")
case("step-continuous-nan", lambda: env("continuous").step([float("nan")] * 6), V, "nan")
case("step-continuous-inf", lambda: env("continuous").step([float("inf"), 0, 0, 0, 0, 0]), V, "inf")
case("step-continuous-short", lambda: env("continuous").step([0.0] * 5), V, "(6,)")
case("step-continuous-range", lambda: env("continuous").step([2.0] * 6), V, "2.0", "[-1, 1]")
case("step-continuous-str", lambda: env("continuous").step("abc"), V, "'abc'")
case("step-continuous-strs", lambda: env("continuous").step(["a"] * 6), V, "'a'")
case("step-continuous-none", lambda: env("continuous").step(None), V, "None")
case("step-continuous-2d", lambda: env("continuous").step(np.zeros((2, 6))), V, "(2, 6)")
case("step-continuous-dict", lambda: env("continuous").step({"dx": 1.0}), V, "dx")
case("step-continuous-complex", lambda: env("continuous").step([1j] * 6), V, "1j")
case("step-continuous-int", lambda: env("continuous").step(3), V, "3")
case("step-orbit-six", lambda: env("orbit").step([0.0] * 6), V, "(3,)")
case("step-orbit-nan", lambda: env("orbit").step([float("nan"), 0, 0]), V, "nan")
case("step-pose-orbit", lambda: step_pose(np.eye(4), "orbit"), V, "orbit")
case("step-pose-nan", lambda: step_pose(pose(t=(float("nan"), 0, 0))), V, "finite", "nan")
case("step-pose-inf", lambda: step_pose(pose(t=(0, float("inf"), 0))), V, "finite", "inf")
case("step-pose-scaled", lambda: step_pose(pose(R=2 * np.eye(3))), V, "orthonormal")
case("step-pose-reflection", lambda: step_pose(pose(R=np.diag([1.0, 1.0, -1.0]))), V, "det")
case("step-pose-last-row", lambda: step_pose(pose(last=(0.5, 0.0, 0.0, 1.0))), V, "[0, 0, 0, 1]")
case("step-pose-3x4", lambda: step_pose(np.eye(4)[:3]), V, "(3, 4)")
case("step-pose-flat", lambda: step_pose(np.eye(4).ravel()), V, "(16,)")
case("step-pose-str", lambda: step_pose("identity"), (V, T), "pose", "'identity'")
case("step-pose-none", lambda: step_pose(None), (V, T), "pose", "None")
case("vstep-count", lambda: venv().step([0, 0, 0]), V, "2", "3")
case("vstep-range", lambda: venv().step([0, 12]), V, "12")
case("vstep-str", lambda: venv().step("ab"), V, "'a'")
# -- trajectory files ---------------------------------------------------------------------------------------
case("traj-missing", lambda: traj(I().missing), F, "no_such_clip.mp4")
case("traj-directory", lambda: traj(I().empty_dir), (IsADirectoryError, V), "empty_dir", "directory")
case("traj-fifo", lambda: traj(I().fifo), (V, O), "pipe.mp4", "regular file")
case("traj-binary", lambda: traj(I().traj_binary), V, "traj_binary.txt")
case("traj-two-lines", lambda: traj(I().traj_two_lines), V, "traj_two_lines", "got 2")
case("traj-bad-number", lambda: traj(I().traj_bad_number), V, "'ten'", "pitch")
case("traj-nan", lambda: traj(I().traj_bad_yaw), V, "yaw", "nan")
case("traj-inf", lambda: traj(I().traj_bad_r), V, "r line", "inf")
case("traj-empty", lambda: traj(I().traj_empty), V, "traj_empty", "got 0")
case("traj-int-path", lambda: traj(123), T, "int")
case("parse-traj-none", lambda: parse(None), T, "NoneType")
case("parse-traj-four-lines", lambda: parse("0\n0\n1\n2\n"), V, "got 4")
case("parse-traj-comma", lambda: parse("0,1\n0 1\n1 1\n"), V, "'0,1'")
case("traj-interpolate-no-keys", lambda: interpolate([], 5), V, "keyframe")
case("traj-interpolate-0-frames", lambda: interpolate([1.0, 2.0], 0), V, "0")
case("traj-poses-bad-source", lambda: traj_poses(np.eye(4)), V, "(4, 4)")
case("traj-poses-r-scale-nan", lambda: traj_poses(np.eye(4)[None].repeat(3, 0), r_scale=float("nan")), V,
     "r_scale", "nan")
case("resolve-traj-typo", lambda: resolve("x_y_circle"), F, "x_y_circle", "x_y_circle_cycle")
case("resolve-traj-directory", lambda: resolve(I().empty_dir), (IsADirectoryError, V), "empty_dir", "directory")
case("resolve-traj-binary", lambda: resolve(I().traj_binary), V, "traj_binary.txt")
# -- preprocessing settings and inputs -------------------------------------------------------------------------
for _fov in ("wide", "abc", 0, 180, -5):
    case(f"pre-settings-fov-{_fov}", (lambda f=_fov: settings(fov=f)), V, "fov", repr(_fov))
for _k, _v in (("long_side", 0), ("long_side", 8), ("long_side", "320"), ("long_side", 320.5), ("max_frames", 0),
               ("max_frames", -1), ("max_frames", 1.5), ("depth_long_side", 4), ("threads", 0), ("seed", -1),
               ("min_registered", 0), ("min_parallax_px", float("nan")), ("focal_search", "yes")):
    case(f"pre-settings-{_k}-{_v}", (lambda k=_k, v=_v: settings(**{k: v})), V, _k, repr(_v))
case("pre-settings-unknown", lambda: settings(stride=2), T, "stride")
case("pre-missing", lambda: preprocess(I().missing), F, "no_such_clip.mp4")
case("pre-fifo", lambda: preprocess(I().fifo), V, "pipe.mp4", "FIFO")
case("pre-empty-file", lambda: preprocess(I().empty_file), V, "empty.mp4")
case("pre-text-file", lambda: preprocess(I().text_file), V, "notes.txt")
case("pre-random-bytes", lambda: preprocess(I().random_mp4), V, "random.mp4")
case("pre-video-1x1", lambda: preprocess(I().video_1x1), V, "1x1")
case("pre-video-40x8", lambda: preprocess(I().video_40x8), V, "40x8")
case("pre-empty-dir", lambda: preprocess(I().empty_dir), V, "empty_dir")
case("pre-dir-no-images", lambda: preprocess(I().dir_no_images), V, "no_images")
case("pre-dir-1x1-images", lambda: preprocess(I().dir_tiny_images), V, "1x1")
case("pre-dir-bad-image", lambda: preprocess(I().dir_bad_image), V, "000.png")
case("pre-settings-dict", lambda: preprocess(I().video_ok, settings={"fov": 60}), T, "settings", "dict")
case("cache-preprocessed-fifo", lambda: cached(I().fifo), V, "pipe.mp4", "FIFO")
case("cache-preprocessed-missing", lambda: cached(I().missing), F, "no_such_clip.mp4")
case("video-world-preprocess-unknown", lambda: video_world(geometry="auto", preprocess={"bogus": 1}), V, "bogus")
case("video-world-preprocess-long-side-0", lambda: video_world(geometry="auto", preprocess={"long_side": 0}),
     V, "long_side", "0")
case("video-world-preprocess-with-depth", lambda: video_world(depth=np.ones((4, 24, 32)), preprocess={}),
     V, "preprocess")
case("video-world-stride-0", lambda: video_world(stride=0), V, "stride", "0")
case("video-world-max-frames-0", lambda: video_world(max_frames=0), V, "max_frames", "0")
case("video-world-fps-0", lambda: video_world(fps=0), V, "fps", "0")
case("video-world-fps-str", lambda: video_world(fps="fast"), V, "fps", "'fast'")
case("video-world-depth-strings", lambda: video_world(depth=np.full((4, 24, 32), "far")), (T, V), "depth", "'far'")
case("video-world-depth-shape", lambda: video_world(depth=np.ones((4, 10, 10))), V, "depth", "(4, 10, 10)")
case("video-world-depth-nan", lambda: video_world(depth=np.full((4, 24, 32), np.nan)), V, "depth", "non-finite")
case("video-world-depth-negative", lambda: video_world(depth=-np.ones((4, 24, 32))), V, "depth", "negative")
case("video-world-depth-zero", lambda: video_world(depth=np.zeros((4, 24, 32))), V, "depth", "no valid")
case("video-world-depth-file-missing", lambda: video_world(depth=str(I().missing)), F, "no_such_clip.mp4")
case("video-world-depth-file-txt", lambda: video_world(depth=str(I().depth_txt)), V, "depth.txt")
case("video-world-depth-npz-no-depth", lambda: video_world(depth=str(I().depth_npz_nodepth)), V, "nodepth.npz",
     "'depth'")
case("video-world-depth-npy-object", lambda: video_world(depth=str(I().depth_npy_object)), V, "object.npy")
case("video-world-depth-npy-strings", lambda: video_world(depth=str(I().depth_npy_strings)), (T, V), "depth",
     "'far'")
case("video-world-c2w-shape", lambda: video_world(depth=np.ones((4, 24, 32)), c2w=np.eye(4)), V, "(4, 4)")
case("video-world-c2w-scaled", lambda: video_world(depth=np.ones((4, 24, 32)), c2w=2 * np.eye(4)[None].repeat(4, 0)),
     V, "c2w", "rigid")
case("video-world-K-shape", lambda: video_world(K=np.eye(2)), V, "K", "(2, 2)")
case("video-world-K-strings", lambda: video_world(K=np.full((3, 3), "f")), (T, V), "K", "'f'")
case("video-world-geometry-typo", lambda: video_world(geometry="plan"), F, "'plan'")
case("array-world-float-frames", lambda: array_world(np.zeros((4, 24, 32, 3), np.float32)), V, "uint8", "float32")
case("array-world-frames-shape", lambda: array_world(np.zeros((24, 32, 3), np.uint8)), V, "frames", "(24, 32, 3)")
case("array-world-no-frames", lambda: array_world(np.zeros((0, 24, 32, 3), np.uint8)), V, "frame")
case("procedural-width-0", lambda: procedural(width=0), V, "width", "0")
case("procedural-num-frames-0", lambda: procedural(num_frames=0), V, "num_frames", "0")
case("procedural-fov-180", lambda: procedural(fov=180), V, "fov", "180")
case("procedural-kind", lambda: procedural(kind="castle"), V, "'castle'")
case("load-world-float", lambda: load_world(3.5), (T, V), "3.5")
case("load-world-bad-spec", lambda: load_world("procedural:bogus=1"), V, "bogus")
case("load-world-missing", lambda: load_world(str(I().missing)), F, "no_such_clip.mp4")
case("geometry-dir-missing", lambda: geometry_dir(I().root / "nogeo"), F, "nogeo")
case("geometry-dir-empty", lambda: geometry_dir(I().empty_dir), V, "empty_dir")
case("geometry-dir-a-file", lambda: geometry_dir(I().text_file), V, "notes.txt")
case("geometry-dir-num-frames-0", lambda: geometry_dir(I().empty_dir, num_frames=0), V, "num_frames", "0")
case("seven-scenes-missing", lambda: seven_scenes(I().root / "no_seq"), F, "no_seq")
# -- checkpoints ----------------------------------------------------------------------------------------------
case("ckpt-missing", lambda: ckpt(I().missing), F, "no_such_clip.mp4")
case("ckpt-directory", lambda: ckpt(I().empty_dir), (IsADirectoryError, V), "empty_dir", "directory")
case("ckpt-empty", lambda: ckpt(I().ckpt_empty), V, "empty.safetensors")
case("ckpt-random-bytes", lambda: ckpt(I().ckpt_random), V, "random.safetensors")
case("ckpt-truncated", lambda: ckpt(I().ckpt_truncated), V, "truncated.safetensors", "truncated")
case("ckpt-absurd-shape", lambda: ckpt(I().ckpt_absurd_shape), V, "absurd_shape.safetensors", "1099511627776")
case("ckpt-depth-20000", lambda: ckpt(I().ckpt_deep), V, "dit.depth", "20000", timeout=5.0)
case("ckpt-pickle", lambda: ckpt_no_unpickle(I().ckpt_pickle), V, "pickle.safetensors")
case("ckpt-torch-zip", lambda: ckpt_no_unpickle(I().ckpt_torch_zip), V, "torch_zip.safetensors")
case("ckpt-not-ours", lambda: ckpt(I().ckpt_not_ours), V, "not_ours.safetensors", "format")
case("ckpt-bad-version", lambda: ckpt(I().ckpt_bad_version), V, "bad_version.safetensors", "'99'")
case("ckpt-config-not-json", lambda: ckpt(I().ckpt_bad_config_json), V, "bad_config_json.safetensors", "JSON")
case("ckpt-config-unknown-key", lambda: ckpt(I().ckpt_unknown_config_key), V, "wings")
case("ckpt-huge-header", lambda: ckpt(I().ckpt_huge_header), V, "huge_header.safetensors")
case("ckpt-metadata-missing", lambda: ckpt_meta(I().missing), F, "no_such_clip.mp4")
case("ckpt-metadata-random", lambda: ckpt_meta(I().ckpt_random), V, "random.safetensors")
case("model-config-json-list", lambda: gen_config_json("[]"), V, "list")
case("model-config-height-neg", lambda: gen_config(height=-1), V, "height", "-1")
case("model-config-dit-depth", lambda: gen_config(dit={"depth": 20000}), V, "dit.depth", "20000", timeout=5.0)
# -- training configs ---------------------------------------------------------------------------------------------
case("train-lr-str", lambda: train_config("lr_str"), V, "lr", "'fast'", "lr_str.toml")
case("train-lr-inf", lambda: train_config("lr_inf"), V, "lr", "inf", "lr_inf.toml")
case("train-betas-5", lambda: train_config("betas5"), V, "betas", "5")
case("train-weight-decay-str", lambda: train_config("wd_str"), V, "weight_decay", "'none'")
case("train-unknown-key", lambda: train_config("unknown"), V, "learning_rate")
case("train-steps-neg", lambda: train_config("neg_steps"), V, "steps", "-5")
case("train-batch-0", lambda: train_config("batch_zero"), V, "batch", "0")
case("train-steps-float", lambda: train_config("float_steps"), V, "steps", "2.5")
case("train-ema-1", lambda: train_config("ema_one"), V, "ema", "1.0")
case("train-stage-typo", lambda: train_config("stage_bad"), V, "'dance'")
case("train-model-typo", lambda: train_config("model_bad"), V, "'huge'")
case("train-size-key", lambda: train_config("size_key"), V, "size")
case("train-other-stage-key", lambda: train_config("other_stage"), V, "sigma_shift")
case("train-loss-str", lambda: train_config("loss_str"), V, "loss", "'one'")
case("train-not-toml", lambda: train_config("not_toml"), V, "not_toml.toml")
case("train-binary", lambda: train_config("binary"), V, "binary.toml")
case("train-directory", lambda: train_config("dir"), (IsADirectoryError, V), "a_folder.toml", "directory")
case("train-missing", lambda: load_config(I().root / "nothing.toml"), F, "nothing.toml")
# -- the command line ------------------------------------------------------------------------------------------------
case("cli-no-command", lambda: cli(), CliExit, "exit status 2", "required")
case("cli-unknown-command", lambda: cli("dance"), CliExit, "exit status 2", "'dance'")
case("cli-rollout-steps-abc", lambda: rollout("--steps", "abc"), CliExit, "exit status 2", "'abc'")
case("cli-rollout-steps-0", lambda: rollout("--steps", "0"), CliExit, "exit status 2", "--steps")
case("cli-rollout-width-0", lambda: rollout("--width", "0"), CliExit, "exit status 2", "width", "0")
case("cli-rollout-width-float", lambda: rollout("--width", "64.5"), CliExit, "exit status 2", "'64.5'")
case("cli-rollout-backend", lambda: rollout("--backend", "wrap"), CliExit, "exit status 2", "'wrap'")
case("cli-rollout-policy", lambda: rollout("--policy", "greedy"), CliExit, "exit status 2", "'greedy'")
case("cli-rollout-time-mode", lambda: rollout("--time-mode", "rewind"), CliExit, "exit status 2", "'rewind'")
case("cli-rollout-video-missing", lambda: rollout("--video", I().missing), CliExit, "exit status 2",
     "no_such_clip.mp4")
case("cli-rollout-video-fifo", lambda: rollout("--video", I().fifo), CliExit, "exit status 2", "FIFO")
case("cli-rollout-world-typo", lambda: rollout("--world", "procedural:kind=castle"), CliExit, "exit status 2",
     "castle")
case("cli-rollout-traj-missing", lambda: rollout("--traj", "nosuch"), CliExit, "exit status 2", "nosuch")
case("cli-rollout-traj-binary", lambda: rollout("--traj", I().traj_binary), CliExit, "exit status 2",
     "traj_binary.txt")
case("cli-rollout-traj-nan", lambda: rollout("--traj", I().traj_bad_yaw), CliExit, "exit status 2", "nan")
case("cli-rollout-traj-directory", lambda: rollout("--traj", I().empty_dir), CliExit, "exit status 2", "empty_dir")
case("cli-rollout-r-scale-nan", lambda: rollout("--traj", I().traj_ok, "--r-scale", "nan"), CliExit,
     "exit status 2", "r_scale", "nan")
case("cli-rollout-threads-0", lambda: rollout("--threads", "0"), CliExit, "exit status 2", "--threads")
case("cli-rollout-threads-abc", lambda: rollout("--threads", "abc"), CliExit, "exit status 2", "'abc'")
case("cli-rollout-seed-neg", lambda: rollout("--seed", "-1"), CliExit, "exit status 2", "seed", "-1")
case("cli-rollout-max-frames-0", lambda: rollout("--video", I().video_ok, "--geometry", "plane", "--max-frames", "0"),
     CliExit, "exit status 2", "max_frames", "0")
case("cli-rollout-stride-0", lambda: rollout("--video", I().video_ok, "--geometry", "plane", "--stride", "0"),
     CliExit, "exit status 2", "stride", "0")
case("cli-rollout-geometry-typo", lambda: rollout("--video", I().video_ok, "--geometry", "plan"), CliExit,
     "exit status 2", "'plan'")
case("cli-rollout-checkpoint-missing", lambda: rollout("--backend", "star", "--checkpoint", I().missing), CliExit,
     "exit status 2", "no_such_clip.mp4")
case("cli-rollout-checkpoint-random", lambda: rollout("--backend", "star", "--checkpoint", I().ckpt_random), CliExit,
     "exit status 2", "random.safetensors")
case("cli-rollout-checkpoint-dir", lambda: rollout("--backend", "star", "--checkpoint", I().empty_dir), CliExit,
     "exit status 2", "empty_dir")
case("cli-rollout-device-typo", lambda: rollout("--backend", "star", "--device", "tpu"), CliExit, "exit status 2",
     "'tpu'")
case("cli-preprocess-missing", lambda: cli("preprocess", I().missing, "--quiet"), CliExit, "exit status 2",
     "no_such_clip.mp4")
case("cli-preprocess-fov-word", lambda: cli("preprocess", I().video_ok, "--fov", "wide"), CliExit, "exit status 2",
     "'wide'")
case("cli-preprocess-fov-0", lambda: cli("preprocess", I().video_ok, "--fov", "0", "--quiet"), CliExit,
     "exit status 2", "fov", "0")
case("cli-preprocess-long-side-0", lambda: cli("preprocess", I().video_ok, "--long-side", "0", "--quiet"), CliExit,
     "exit status 2", "long_side", "0")
case("cli-preprocess-fifo", lambda: cli("preprocess", I().fifo, "--quiet"), CliExit, "exit status 2", "FIFO")
case("cli-preprocess-1x1", lambda: cli("preprocess", I().video_1x1, "--quiet"), CliExit, "exit status 2", "1x1")
case("cli-train-config-missing", lambda: cli("train", "--config", I().root / "nothing.toml"), CliExit,
     "exit status 2", "nothing.toml")
case("cli-train-lr-str", lambda: cli("train", "--config", I().cfg["lr_str"]), CliExit, "exit status 2", "'fast'")
case("cli-train-stage-mismatch", lambda: cli("train", "distill", "--config", I().cfg["ok_vae"]), CliExit,
     "exit status 2", "'distill'")
case("cli-train-device", lambda: cli("train", "--config", I().cfg["ok_vae"], "--device", "tpu"), CliExit,
     "exit status 2", "'tpu'")
case("cli-train-steps-0", lambda: cli("train", "--config", I().cfg["ok_vae"], "--steps", "0"), CliExit,
     "exit status 2", "--steps")
case("cli-train-config-directory", lambda: cli("train", "--config", I().cfg["dir"]), CliExit, "exit status 2",
     "a_folder.toml")
case("cli-train-binary-config", lambda: cli("train", "--config", I().cfg["binary"]), CliExit, "exit status 2",
     "binary.toml")
case("cli-cache-action", lambda: cli("cache", "frobnicate"), CliExit, "exit status 2", "'frobnicate'")
