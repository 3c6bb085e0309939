"""The ``local`` backend: jobs and instances on this machine, each run in a sandbox of its own
(see ``backend.py`` for what isolates runs, ``runs.py`` for a run's record on disk)."""

from suanli.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
