"""inspatio_gym: one reference video becomes an interactive Gymnasium world.

    >>> import gymnasium as gym, inspatio_gym
    >>> env = gym.make("InspatioWorld-v0")            # the embedded procedural room
    >>> env = gym.make("InspatioWorld-v0", video="clip.mp4")  # doctest: +SKIP

The root is thin: the public API below is imported on first use (module ``__getattr__``),
so ``import inspatio_gym.model`` loads torch and nothing of the env stack. The env ids are
registered with Gymnasium as soon as both packages are imported, in either order: at once
when Gymnasium is already loaded, else right after Gymnasium's own import completes (a
post-import hook, removed once it has fired). Internals are reached by module path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_API = {
    # environments
    "WorldEnv": "inspatio_gym.envs.world_env",
    "WorldVectorEnv": "inspatio_gym.envs.vector_env",
    "MultiAgentWorldEnv": "inspatio_gym.envs.multi_agent",
    "parallel_env": "inspatio_gym.envs.multi_agent",
    "EnvOptions": "inspatio_gym.envs.options",
    "ControlConfig": "inspatio_gym.control.limits",
    # worlds and their builders
    "ReferenceWorld": "inspatio_gym.world.reference",
    "load_world": "inspatio_gym.world.sources",
    "procedural_world": "inspatio_gym.world.sources",
    "video_world": "inspatio_gym.world.sources",
    "array_world": "inspatio_gym.world.sources",
    "DepthPriorWarning": "inspatio_gym.world.depth_prior",
    # backends
    "Backend": "inspatio_gym.backends.base",
    "View": "inspatio_gym.geometry.view",
    "WarpBackend": "inspatio_gym.backends.warp",
    "make_backend": "inspatio_gym.backends",
    # preprocessing a video into geometry
    "preprocess_video": "inspatio_gym.recon.preprocess",
    "PreprocessSettings": "inspatio_gym.recon.preprocess",
    "NoParallaxWarning": "inspatio_gym.world.depth_prior",
    "load_geometry_dir": "inspatio_gym.recon.external",
    # camera trajectories
    "load_trajectory": "inspatio_gym.geometry.trajectory",
    "trajectory_poses": "inspatio_gym.geometry.trajectory",
    "register_envs": "inspatio_gym.registration",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name == "ENV_IDS":  # the registered ids (registering them if gymnasium was not loaded yet)
        from .registration import register_envs

        return register_envs()
    module = _API.get(name)
    if module is None:
        try:  # a subpackage by attribute, as after an eager import: inspatio_gym.envs
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
        raise AttributeError(f"module 'inspatio_gym' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API) | {"ENV_IDS"})


def _register() -> None:
    from .registration import register_envs

    register_envs()


class _AfterGymnasium(importlib.abc.MetaPathFinder):
    """Registers the env ids right after `import gymnasium` has run.

    It stays on sys.meta_path until gymnasium is actually imported (a mere
    importlib.util.find_spec probe does not use it up), then removes itself.
    """

    _looking = False

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "gymnasium" or self._looking:
            return None
        self._looking = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._looking = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            try:
                _register()
            except Exception as e:  # never break gymnasium's own import
                import warnings

                warnings.warn(f"inspatio_gym could not register its envs: {e}", RuntimeWarning, stacklevel=2)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if "gymnasium" in sys.modules:
    _register()
elif not any(type(f).__name__ == "_AfterGymnasium" for f in sys.meta_path):
    sys.meta_path.insert(0, _AfterGymnasium())
