"""Leases on sessions' rooms in Redis (ecsa/placement.py), against fakeredis.

The failover across real processes, nginx and a real Redis is in tests/multiprocess/.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import fakeredis
import pytest

from ecsa.config import StartupError, from_environment
from ecsa.placement import (CODES_KEY, LocalPlacement, PlacementUnavailable, RedisPlacement, RoomElsewhere,
                            lease_key, placement_for)

ROOT = Path(__file__).resolve().parent.parent


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server():
    return fakeredis.FakeServer()


def process(server, name, lease=6, clock=None) -> RedisPlacement:
    """One app process's placement over the shared (fake) Redis."""
    client = fakeredis.FakeRedis(server=server, decode_responses=True)
    return RedisPlacement(client, name, lease, clock=clock or time.monotonic)


def test_first_process_takes_a_free_lease_and_a_second_is_sent_elsewhere(server):
    one, two = process(server, "web1"), process(server, "web2")
    one.acquire("s1")
    with pytest.raises(RoomElsewhere) as refused:
        two.acquire("s1")
    assert refused.value.holder == "web1" and not isinstance(refused.value, PlacementUnavailable)
    assert one.holds("s1") and not two.holds("s1")
    assert 0 < one.client.pttl(lease_key("s1")) <= 6000


def test_taking_a_lease_already_held_renews_it(server):
    one = process(server, "web1")
    one.acquire("s1")
    one.client.pexpire(lease_key("s1"), 100)
    one.acquire("s1")
    assert one.client.pttl(lease_key("s1")) > 5000


def test_an_expired_lease_is_taken_by_the_next_process(server):
    one, two = process(server, "web1"), process(server, "web2")
    one.acquire("s1")
    one.client.pexpire(lease_key("s1"), 1)  # as if web1 died and its lease ran out
    time.sleep(0.01)
    two.acquire("s1")
    assert two.client.get(lease_key("s1")) == "web2"


def test_only_the_owner_renews_and_a_lease_taken_over_is_given_up(server):
    clock, lost = Clock(), []
    one, two = process(server, "web1", clock=clock), process(server, "web2")
    one.acquire("s1")
    one.on_lost = lost.append
    one.client.delete(lease_key("s1"))
    two.acquire("s1")  # web1's lease lapsed (a long pause) and web2 took the session
    two.client.pexpire(lease_key("s1"), 3000)
    assert one.renew_all() == ["s1"] and lost == ["s1"]
    assert two.client.get(lease_key("s1")) == "web2"
    assert two.client.pttl(lease_key("s1")) <= 3000  # web1's renewal did not extend web2's lease
    assert not one.holds("s1")


def test_release_deletes_only_the_owners_lease(server):
    one, two = process(server, "web1"), process(server, "web2")
    one.acquire("s1")
    two.release("s1")
    assert one.client.get(lease_key("s1")) == "web1"
    one.release("s1")
    assert one.client.get(lease_key("s1")) is None and not one.holds("s1")
    two.acquire("s1")


def test_renewal_keeps_every_held_lease(server):
    clock = Clock()
    one = process(server, "web1", clock=clock)
    one.acquire("s1")
    one.acquire("s2")
    for key in ("s1", "s2"):
        one.client.pexpire(lease_key(key), 500)
    clock.now += 2
    assert one.renew_all() == []
    assert all(one.client.pttl(lease_key(key)) > 5000 for key in ("s1", "s2"))
    assert one.holds("s1") and one.holds("s2")


def test_unreachable_redis_refuses_new_rooms_with_a_clear_message(server, caplog):
    one = process(server, "web1")
    server.connected = False
    with caplog.at_level(logging.WARNING, "ecsa.placement"), pytest.raises(PlacementUnavailable) as refused:
        one.acquire("s1")
    assert "cannot reach its session directory" in refused.value.message
    assert "Redis cannot be reached" in caplog.text


def test_a_lease_that_cannot_be_renewed_is_given_up_before_it_could_expire(server):
    clock, lost = Clock(), []
    one = process(server, "web1", lease=6, clock=clock)  # renewed every 2 s
    one.acquire("s1")
    one.on_lost = lost.append
    server.connected = False
    clock.now += 2
    assert one.renew_all() == [] and one.holds("s1")  # one more try still comes in time
    clock.now += 2
    assert one.renew_all() == ["s1"] and lost == ["s1"]  # the next would come too late
    assert not one.holds("s1") and clock.now < 1000 + 6


def test_redis_away_is_retried_with_backoff_and_its_return_is_logged(server, caplog):
    clock = Clock()
    one = process(server, "web1", clock=clock)
    server.connected = False
    with pytest.raises(PlacementUnavailable):
        one.acquire("s1")
    server.connected = True
    with pytest.raises(PlacementUnavailable):
        one.acquire("s1")  # within the pause: Redis is not asked again yet
    clock.now += 1
    with caplog.at_level(logging.WARNING, "ecsa.placement"):
        one.acquire("s1")
    assert "Redis is back" in caplog.text and one.holds("s1")


def test_join_codes_are_shared_and_never_given_twice(server):
    one, two = process(server, "web1"), process(server, "web2")
    assert one.reserve_code("ACDEFG", "s1")
    assert not two.reserve_code("ACDEFG", "s2")
    two.publish_codes({"HJKMNP": "s3"})
    assert two.session_of_code("ACDEFG") == "s1" and one.session_of_code("HJKMNP") == "s3"
    assert one.session_of_code("QRTUVW") is None
    assert one.client.hlen(CODES_KEY) == 2


def test_the_renewal_thread_keeps_a_lease_alive_past_its_time(server):
    one = process(server, "web1", lease=1)
    one.acquire("s1")
    one.start(on_lost=lambda session_id: None)
    try:
        time.sleep(1.5)
        assert one.client.get(lease_key("s1")) == "web1" and one.holds("s1")
    finally:
        one.stop()


def test_the_embedded_default_grants_every_room():
    local = placement_for(None)
    assert isinstance(local, LocalPlacement) and not local.shared
    local.acquire("s1")
    assert local.reserve_code("ACDEFG", "s1") and local.session_of_code("ACDEFG") is None


@pytest.mark.parametrize("name, value, says", [
    ("ECSA_REDIS_URL", "http://127.0.0.1:6379", "must be a Redis address like redis://127.0.0.1:6379/0"),
    ("ECSA_REDIS_URL", "redis://", "must be a Redis address"),
    ("ECSA_LEASE_SECONDS", "0", "must be a whole number from 1 to 60"),
    ("ECSA_LEASE_SECONDS", "61", "must be a whole number from 1 to 60"),
    ("ECSA_PROCESS_NAME", "web 1", "must be a short name without spaces"),
])
def test_a_wrong_multi_process_setting_is_one_clear_line(name, value, says):
    with pytest.raises(StartupError) as refused:
        from_environment({name: value})
    assert str(refused.value).startswith(f"{name} {says}") and "\n" not in str(refused.value)


def test_multi_process_settings_default_to_one_process():
    settings = from_environment({})
    assert (settings["REDIS_URL"], settings["LEASE_SECONDS"], settings["PROCESS_NAME"]) == (None, 5, None)
    assert from_environment({"ECSA_REDIS_URL": "redis://127.0.0.1:6379/0", "ECSA_LEASE_SECONDS": "3",
                             "ECSA_PROCESS_NAME": "web1:5001"})["LEASE_SECONDS"] == 3


def test_a_redis_that_cannot_be_reached_stops_start_up_with_one_line(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECSA_")}
    env.update(ECSA_DATA_DIR=str(tmp_path / "data"), ECSA_REDIS_URL=f"redis://:secret@127.0.0.1:{port}/0")
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--port", "0"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        f"ECSA Workshop cannot start: cannot reach Redis at redis://:***@127.0.0.1:{port}/0 (ECSA_REDIS_URL): "
        "start it, or fix the address")


def test_processes_starting_together_on_a_new_folder_sign_with_one_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from ecsa.config import secret_key

    with ThreadPoolExecutor(8) as pool:
        keys = {key for key, _warning in pool.map(lambda _: secret_key(str(tmp_path)), range(8))}
    assert len(keys) == 1 and (tmp_path / "secret_key").read_text() == keys.pop()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]


DETAILS = {"title": "Leadership workshop", "organisation": "Example NHS Trust", "date": "2026-12-01",
           "scope": [1, 2], "auto_reveal": False, "anonymous": False}


@pytest.fixture
def two_processes(tmp_path, server):
    """Two session registries on one data folder, both started before any session existed."""
    from ecsa.framework import load_framework
    from ecsa.workshops import Workshops

    framework = load_framework(str(ROOT / "framework.json"))
    registries = [Workshops(tmp_path / "sessions", framework) for _ in range(2)]
    placements = [process(server, "web1"), process(server, "web2")]
    for registry, placement in zip(registries, placements):
        registry.share_through(placement)
    yield registries
    for placement in placements:
        placement.stop()


def test_two_processes_never_serve_one_session_and_the_next_reads_it_from_disk(two_processes):
    one, two = two_processes
    workshop, _fay, _token = one.create(DETAILS, "Fay Facilitator", "staff")
    with pytest.raises(RoomElsewhere):
        two.get(workshop.id)
    assert two.session_of_code(workshop.details["join_code"].lower()) == workshop.id
    workshop.join("Pat Participant", "staff")
    one.rooms.close(workshop.id)  # the room closes here: its lease is released
    moved = two.get(workshop.id)  # made after `two` started, read now: Pat is there
    assert "Pat Participant" in [person["name"] for person in moved.participants()]
    with pytest.raises(RoomElsewhere):
        one.get(workshop.id)


def test_a_room_whose_lease_is_lost_is_let_go_and_refuses_every_write(two_processes):
    from ecsa.storage import FileRetired

    one, two = two_processes
    lost = []
    one.lost_listeners.append(lambda room, sockets: lost.append(room.session_id))
    workshop, _fay, _token = one.create(DETAILS, "Fay Facilitator", "staff")
    session_id = workshop.id
    one.placement.client.delete(lease_key(session_id))  # as if the lease had lapsed in a long pause
    two.get(session_id)  # and the other process took the session
    one.placement.renew_all()
    assert lost == [session_id] and one.rooms.open_ids() == []
    with pytest.raises(FileRetired):
        workshop.join("Late Writer", "staff")  # a request still holding the old room writes nothing
    assert "Late Writer" not in [person["name"] for person in two.get(session_id).participants()]


def test_a_code_reserved_for_a_create_that_failed_is_given_back(server):
    one, two = process(server, "web1"), process(server, "web2")
    assert one.reserve_code("ACDEFG", "s1")
    two.release_code("ACDEFG", "s2")  # not s2's: kept
    assert one.session_of_code("ACDEFG") == "s1"
    one.release_code("ACDEFG", "s1")
    assert one.session_of_code("ACDEFG") is None and two.reserve_code("ACDEFG", "s2")


def test_a_create_that_fails_keeps_neither_its_code_nor_its_lease(two_processes, monkeypatch):
    one, _two = two_processes

    def disk_full(session_id, tables):
        raise OSError("No space left on device")
    monkeypatch.setattr(one.directory, "create", disk_full)
    with pytest.raises(OSError):
        one.create(DETAILS, "Fay Facilitator", "staff")
    client = one.placement.client
    assert client.hlen(CODES_KEY) == 0 and client.keys("lease:*") == [] and one.placement.held() == []


def test_a_submission_is_done_once_whichever_process_gets_it(server):
    one, two = process(server, "web1"), process(server, "web2")
    calls = []
    assert one.run_once("attempt1", lambda: calls.append(1) or ("s1", "fay")) == ("s1", "fay")
    assert two.run_once("attempt1", lambda: calls.append(2) or ("s2", "fay")) == ["s1", "fay"]
    assert calls == [1] and two.run_once("attempt2", lambda: "other") == "other"


def test_a_repeat_while_the_first_is_under_way_is_asked_again(server):
    from ecsa.placement import AttemptUnderWay

    one, two = process(server, "web1"), process(server, "web2")
    two.attempt_wait = 0

    def first():
        with pytest.raises(AttemptUnderWay) as refused:
            two.run_once("attempt1", lambda: "second")  # the double tap, on the other process
        assert isinstance(refused.value, RoomElsewhere)  # answered 503 + Retry-After: 1
        return "first"
    assert one.run_once("attempt1", first) == "first"
    assert two.run_once("attempt1", lambda: "second") == "first"
    assert 0 < one.client.ttl("once:attempt1") <= 600


def test_a_repeat_waits_a_moment_for_the_first_to_finish(server):
    import threading

    one, two = process(server, "web1"), process(server, "web2")
    started, answers = threading.Event(), []

    def slow():
        started.set()
        time.sleep(0.3)
        return ["s1", "fay"]
    first = threading.Thread(target=lambda: answers.append(one.run_once("attempt1", slow)))
    first.start()
    started.wait(5)
    answers.append(two.run_once("attempt1", lambda: ["s2", "fay"]))  # waits, then the first's result
    first.join(5)
    assert answers == [["s1", "fay"], ["s1", "fay"]]


def test_a_submission_that_failed_may_be_tried_again_at_once(server):
    one, two = process(server, "web1"), process(server, "web2")
    with pytest.raises(OSError):
        one.run_once("attempt1", lambda: (_ for _ in ()).throw(OSError("disk full")))
    assert two.run_once("attempt1", lambda: "done") == "done"


@pytest.fixture
def two_apps(tmp_path, server, monkeypatch):
    """Two whole apps serving one data folder with their leases in one (fake) Redis, as two
    processes behind nginx would; live messages go nowhere (no Redis listens there)."""
    import ecsa.placement
    from ecsa import create_app

    monkeypatch.setattr(ecsa.placement, "placement_for", lambda url, lease, name: process(server, name, lease))
    apps = [create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "REDIS_URL": "redis://127.0.0.1:1/0",
                        "LEASE_SECONDS": 5, "PROCESS_NAME": name}) for name in ("web1", "web2")]
    yield apps
    for app in apps:
        app.extensions["ecsa"].placement.stop()


def test_a_double_tap_on_create_landing_on_two_processes_makes_one_session(two_apps, tmp_path):
    from conftest import SESSION_FORM

    one, two = two_apps
    form = dict(SESSION_FORM, attempt="a" * 22)
    first = one.test_client().post("/sessions", data=form)
    second = two.test_client().post("/sessions", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(list((tmp_path / "data" / "sessions").glob("*.json"))) == 1


def test_a_session_served_by_another_process_answers_htmx_503_with_retry_after(two_apps):
    from conftest import HX, SESSION_FORM

    one, two = two_apps
    fay = one.test_client()
    share = fay.post("/sessions", data=SESSION_FORM).headers["Location"]
    session_id = share.split("/")[2]
    assert fay.get(share).status_code == 200  # web1 serves the session's room now
    moved = two.test_client()
    moved.set_cookie("ecsa", fay.get_cookie("ecsa").value)  # the same browser, sent to web2
    refused = moved.post(f"/s/{session_id}/i/1a/evidence", data={"text": "Board minutes"}, headers=HX)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert one.extensions["ecsa"].get(session_id).worksheet("1a")["evidence"] == []
    one.extensions["ecsa"].rooms.close(session_id)  # web1 lets the room go: web2 takes it
    landed = moved.post(f"/s/{session_id}/i/1a/evidence", data={"text": "Board minutes"}, headers=HX)
    assert landed.status_code == 200 and "Board minutes" in landed.get_data(as_text=True)


def test_a_form_sent_without_javascript_to_a_moving_session_is_sent_back_not_reloaded(two_apps):
    """Reloading would ask for the form's address, not send it again (a 405 at best): the page
    says it was not saved and links back to the form, where the browser has kept the text."""
    from conftest import SESSION_FORM

    one, two = two_apps
    fay = one.test_client()
    share = fay.post("/sessions", data=SESSION_FORM).headers["Location"]
    session_id = share.split("/")[2]
    assert fay.get(share).status_code == 200
    moved = two.test_client()
    moved.set_cookie("ecsa", fay.get_cookie("ecsa").value)
    page_url = f"http://localhost/s/{session_id}/i/1a"
    refused = moved.post(f"/s/{session_id}/i/1a/evidence", data={"text": "Board minutes"},
                         headers={"Referer": page_url})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 503 and 'http-equiv="refresh"' not in body
    assert "<strong>not saved</strong>" in body and f'href="{page_url}"' in body
    elsewhere = moved.post(f"/s/{session_id}/i/1a/evidence", data={"text": "x"},
                           headers={"Referer": "https://evil.example/"})
    assert 'href="https://evil.example/' not in elsewhere.get_data(as_text=True)
    assert 'http-equiv="refresh"' in moved.get(f"/s/{session_id}/").get_data(as_text=True)  # a page: asked again
