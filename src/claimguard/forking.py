"""Objects that must be made fresh in a child process after ``os.fork()``.

gunicorn ``--preload`` imports the app, then forks its workers. A lock that another
thread held at that moment stays held forever in the child, and a connection pool would
mix two processes' traffic: the key caches and the token caches re-create theirs.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import TypeVar

__all__ = ["reset_after_fork"]

T = TypeVar("T")


def reset_after_fork(members: weakref.WeakSet[T], reset: Callable[[T], None]) -> None:
    """In a forked child, call ``reset(member)`` for every object still in ``members``.

    Call once per set, at import. The set is weak: an object leaves it when it is
    garbage, and a fork costs nothing for it.
    """

    def after_in_child() -> None:
        for member in list(members):
            reset(member)

    if hasattr(os, "register_at_fork"):  # POSIX only; elsewhere there is no fork
        os.register_at_fork(after_in_child=after_in_child)
