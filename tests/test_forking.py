"""After ``os.fork()``, objects registered with claimguard.forking are reset in the
child (fresh locks and sessions), and only there."""

from __future__ import annotations

import os
import signal
import warnings
import weakref

import pytest

from claimguard.forking import reset_after_fork


class Resource:
    def __init__(self) -> None:
        self.resets = 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_members_are_reset_in_the_child_only() -> None:
    members: weakref.WeakSet[Resource] = weakref.WeakSet()
    reset_after_fork(members, lambda member: setattr(member, "resets", member.resets + 1))
    kept, dropped = Resource(), Resource()
    members.add(kept)
    members.add(dropped)
    del dropped  # garbage: no longer a member, nothing to reset
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a multi-threaded process.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        signal.alarm(5)
        os._exit(0 if kept.resets == 1 and len(members) == 1 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0
    assert kept.resets == 0
