"""Tasks: the contract, synthetic functions and small real models."""

from hpbench.tasks.base import FunctionTask, Task, task

__all__ = ["Task", "FunctionTask", "task"]
