"""ecsa.once: the same submission twice does its work once."""

import threading
import time

import pytest

from ecsa.once import Once, new_attempt, valid_attempt


def test_a_repeat_gets_the_first_result_without_doing_the_work_again():
    once, calls = Once(), []
    assert once.run("k", lambda: calls.append(1) or "first") == "first"
    assert once.run("k", lambda: calls.append(2) or "second") == "first"
    assert calls == [1]


def test_no_key_means_no_memory():
    once = Once()
    assert [once.run(None, lambda n=n: n) for n in range(3)] == [0, 1, 2]


def test_a_repeat_arriving_mid_way_waits_for_the_first():
    once, started, results = Once(), threading.Event(), []

    def slow():
        started.set()
        time.sleep(0.2)
        return object()

    first = threading.Thread(target=lambda: results.append(once.run("k", slow)))
    first.start()
    started.wait(5)
    results.append(once.run("k", lambda: "not run"))
    first.join(5)
    assert len(results) == 2 and results[0] is results[1]


def test_work_that_fails_is_not_remembered():
    once = Once()
    with pytest.raises(ValueError):
        once.run("k", lambda: (_ for _ in ()).throw(ValueError("disk full")))
    assert once.run("k", lambda: "retried") == "retried"


def test_only_the_most_recent_results_are_kept():
    once = Once(keep=2)
    for key in "abc":
        once.run(key, lambda key=key: key)
    assert once.run("a", lambda: "again") == "again" and once.run("c", lambda: "no") == "c"


def test_attempt_ids_are_random_and_checked_by_shape():
    ids = {new_attempt() for _ in range(100)}
    assert len(ids) == 100 and all(valid_attempt(i) == i for i in ids)
    for bad in (None, 7, "", "short", "a" * 65, "has space in it......", "<b>bold</b>xxxxxxxxx"):
        assert valid_attempt(bad) is None
