"""The examples in the env documentation run as written."""

from __future__ import annotations

import doctest

import inspatio_gym
from inspatio_gym.envs import world_env


def test_world_env_docstring_example_runs():
    result = doctest.testmod(world_env, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0


def test_package_docstring_example_runs():
    result = doctest.testmod(inspatio_gym)
    assert result.attempted >= 2 and result.failed == 0


def test_env_docstring_has_gymnasium_sections():
    doc = world_env.WorldEnv.__doc__
    for section in ("Description", "Action Space", "Observation Space", "Rewards", "Starting State",
                    "Episode End", "Arguments", "Vectorized environment"):
        assert f"## {section}" in doc, section
