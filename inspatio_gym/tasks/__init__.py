"""Tasks on top of a world: free roaming, PointNav, ImageNav, Explore."""

from __future__ import annotations

from typing import Any

from .base import Task
from .explore import ExploreTask
from .navigation import ImageNavTask, PointNavTask

__all__ = ["TASKS", "Task", "PointNavTask", "ImageNavTask", "ExploreTask", "make_task"]

TASKS = {"free": Task, "pointnav": PointNavTask, "imagenav": ImageNavTask, "explore": ExploreTask}


def make_task(task: str | Task | None, **options: Any) -> Task:
    if isinstance(task, Task):
        if options:
            raise ValueError(f"task options {sorted(options)} given with a task instance")
        return task
    name = "free" if task is None else task
    if name not in TASKS:
        raise ValueError(f"unknown task {task!r}; available: {sorted(TASKS)}")
    try:
        return TASKS[name](**options)
    except TypeError as e:
        raise ValueError(f"bad task_options for {name!r}: {e}") from None
