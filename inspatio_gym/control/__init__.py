"""The explicit spatial constraint: actions become plausible camera poses."""

from .actions import ACTION_MODES, DISCRETE_ACTIONS, action_space, decode_actions
from .limits import ControlConfig, Obstacles
from .rig import Rig, check_limits

__all__ = ["ACTION_MODES", "DISCRETE_ACTIONS", "ControlConfig", "Obstacles", "Rig", "action_space",
           "check_limits", "decode_actions"]
