"""Run independent tasks on dask.distributed, results in task order (the bottom of the stack:
imports nothing from the project, so every layer may use it).

* ``sweep.runner`` -- :func:`run_tasks`, :class:`Task`, :class:`TaskError`.
"""

from .runner import Task, TaskError, run_tasks

__all__ = ["Task", "TaskError", "run_tasks"]
