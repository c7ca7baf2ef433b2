"""Run independent tasks on dask.distributed, results in task order (the bottom of the stack:
imports nothing from the project, so every layer may use it).

* ``sweep.runner`` -- :func:`run_tasks`, :class:`Runner`, :class:`Task`, :class:`TaskError`.
"""

from .runner import Runner, Task, TaskError, run_tasks

__all__ = ["Runner", "Task", "TaskError", "run_tasks"]
