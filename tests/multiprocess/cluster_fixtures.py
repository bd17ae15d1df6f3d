"""Fixtures for the multi-process tests: a real redis-server, three `python app.py`
processes on one data folder and nginx running deploy/nginx-ecsa.conf, all on loopback.
Each test module imports the ones it uses (a conftest.py here would replace tests/conftest.py
as the `conftest` module other test files import from).

Skipped, saying why, only where redis-server or nginx is not installed and this is not CI;
in CI (CI=true, where .ci/run installs both) a missing tool fails the tests instead.
"""

from __future__ import annotations

import os

import pytest

from cluster import Cluster, missing_tools


def need_tools() -> None:
    """Skip (fail in CI) when redis-server or nginx is missing."""
    missing = missing_tools()
    if not missing:
        return
    reason = f"needs {' and '.join(missing)} (apt-get install redis-server nginx)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"multi-process tests in CI: {reason}; .ci/run should have installed them")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Redis, three app processes and nginx, shared by a module's tests (none is killed)."""
    need_tools()
    running = Cluster(tmp_path_factory.mktemp("cluster")).start()
    yield running
    running.stop()


@pytest.fixture
def fresh_cluster(tmp_path):
    """A cluster of its own, for a test that kills part of it."""
    need_tools()
    running = Cluster(tmp_path / "cluster").start()
    yield running
    running.stop()
