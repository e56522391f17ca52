"""Grouped tests on pytest-xdist workers, for pytest 9.

``make test`` runs two workers; a session fixture is made once per worker, so the
tests that read one of the end-to-end runs (tests/e2e/conftest.py marks them with
``xdist_group``) must share a worker. pytest-xdist 3.8's ``--dist loadgroup`` tells its
scheduler a test's group by rewriting ``item._nodeid``, which pytest 9 no longer reads
(a node's id is ``item._id``): every group was scattered, and each worker ran both
pipeline runs. So the groups go to the scheduler through a file instead: each worker
writes {test id: group} once it has collected, and the scheduler (xdist's own scope
scheduling, a group being one scope) reads it once every worker has reported its
collection, before it hands out any test.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

GROUPS_FILE = "usersegments_groups_file"
# a test's place in the order the scheduler hands the groups out (tests/e2e/conftest.py)
ORDER = pytest.StashKey[tuple]()
_groups_file = pytest.StashKey[Path]()


def groups_file(config: pytest.Config) -> Path:
    """The controller's file, made once per test session."""
    if _groups_file not in config.stash:
        handle, name = tempfile.mkstemp(prefix="usersegments-test-groups-", suffix=".json")
        os.close(handle)
        config.stash[_groups_file] = Path(name)
    return config.stash[_groups_file]


def remove_groups_file(config: pytest.Config) -> None:
    if _groups_file in config.stash:
        config.stash[_groups_file].unlink(missing_ok=True)


def write_groups(path: Path, items: list[pytest.Item]) -> None:
    groups = {}
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark:
            groups[item.nodeid] = str(mark.args[0])
    # each worker writes the same mapping; a rename never shows half of one
    partial = path.with_suffix(f".{os.getpid()}")
    partial.write_text(json.dumps(groups))
    partial.replace(path)


class GroupScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with a group per scope (ungrouped tests: one each),
    handed out in the order of the collection (tests/conftest.py sorts it), not largest
    first."""

    def __init__(self, config: pytest.Config, log, path: Path) -> None:
        config.option.loadscopereorder = False
        super().__init__(config, log)
        self._path = path
        self._groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None:
            self._groups = json.loads(self._path.read_text() or "{}")
        return self._groups.get(nodeid, nodeid)
