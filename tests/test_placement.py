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
