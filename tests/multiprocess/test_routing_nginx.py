"""Through nginx, every request and socket of a session reaches one process, and a process
that does not hold a session's lease never serves (or writes) it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from cluster_fixtures import cluster  # noqa: F401  (a fixture)
from people import INDICATOR, SESSION_FORM, Browser, LivePage, create_session, holder, join, server_notes, tokens


def test_a_session_created_through_nginx_is_live_for_websocket_and_polling_clients(cluster):
    fay, session_id, code = create_session(cluster.base)
    pat = join(cluster.base, code, "Pat")
    pages = [LivePage(cluster.base, fay, session_id, "fay", "websocket"),
             LivePage(cluster.base, pat, session_id, "pat", "polling")]
    try:
        for page in pages:
            page.connect()
        for _ in range(5):
            for page in pages:
                page.type_one()
        deadline = time.monotonic() + 10
        while pages[0].text() != pages[1].text() and time.monotonic() < deadline:
            time.sleep(0.05)  # each hears the other's updates through the room
        assert pages[0].text() == pages[1].text()
        assert sorted(tokens(pages[0].text())) == sorted(pages[0].acknowledged + pages[1].acknowledged)
        assert len(pages[0].acknowledged + pages[1].acknowledged) == 10
    finally:
        for page in pages:
            page.close()


def test_every_request_of_a_session_lands_on_one_process(cluster):
    fay, session_id, code = create_session(cluster.base)
    pat = join(cluster.base, code, "Pat")
    answered = {holder(fay, session_id)}
    for path in ("/", "/share", f"/i/{INDICATOR}", "/record"):
        for person in (fay, pat):
            answered.add(person.get(f"/s/{session_id}{path}").headers["X-ECSA-Process"])
    handshake = fay.get(f"/socket.io/?EIO=4&transport=polling&session={session_id}")
    answered.add(handshake.headers["X-ECSA-Process"])
    vote = pat.post(f"/s/{session_id}/i/{INDICATOR}/vote", {"value": "3"}, allow_redirects=False)
    assert vote.status_code == 303
    answered.add(vote.headers["X-ECSA-Process"])
    assert len(answered) == 1, answered
    # Pages without a session are spread over the processes.
    assert len({Browser(cluster.base).get("/").headers["X-ECSA-Process"] for _ in range(9)}) > 1


def test_a_process_without_the_lease_answers_503_and_never_writes(cluster):
    fay, session_id, code = create_session(cluster.base)
    serving = holder(fay, session_id)
    before = (cluster.data_dir / "sessions" / f"{session_id}.json").read_bytes()
    for index, port in enumerate(cluster.app_ports):
        if cluster.name(index) == serving:
            continue
        direct = f"http://127.0.0.1:{port}/s/{session_id}"
        page = requests.get(direct + "/", cookies=fay.http.cookies, timeout=10)
        assert page.status_code == 503 and page.headers["Retry-After"] == "1"
        assert "This session is moving to another server; this page will retry." in page.text
        assert '<meta http-equiv="refresh"' in page.text
        posted = requests.post(direct + f"/i/{INDICATOR}/vote", data={"value": "2"}, cookies=fay.http.cookies,
                               allow_redirects=False, timeout=10)
        assert posted.status_code == 503
        socket = requests.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling&session={session_id}",
                              timeout=10)
        assert socket.status_code == 503 and socket.headers["Retry-After"] == "1"
    assert (cluster.data_dir / "sessions" / f"{session_id}.json").read_bytes() == before
    assert server_notes(cluster.base, fay, session_id) == ""


def test_a_join_code_from_any_process_leads_into_the_session(cluster):
    fay, session_id, code = create_session(cluster.base)
    for port in cluster.app_ports:  # /join/<code> straight at each process: each resolves it
        answer = requests.get(f"http://127.0.0.1:{port}/join/{code.lower()}", allow_redirects=False, timeout=10)
        assert answer.status_code == 307
        assert answer.headers["Location"].endswith(f"/s/{session_id}/join/{code.lower()}")
    sam = join(cluster.base, code, "Sam")
    assert f"/s/{session_id}/" in sam.get(f"/s/{session_id}/").url


def test_a_double_tap_on_create_sent_to_every_process_at_once_makes_one_session(cluster):
    before = set((cluster.data_dir / "sessions").glob("*.json"))
    form = dict(SESSION_FORM, title="Double tapped", attempt="doubletap" + "x" * 16)

    def tap(port: int) -> requests.Response:
        """The same form, straight at one process (as two taps landing on two would be)."""
        return requests.post(f"http://127.0.0.1:{port}/sessions", data=form, allow_redirects=False, timeout=15)

    deadline, answers = time.monotonic() + 20, []
    with ThreadPoolExecutor(len(cluster.app_ports)) as pool:
        pending = list(cluster.app_ports)
        while pending and time.monotonic() < deadline:  # a 503 (the first still at it) is asked again
            answered = dict(zip(pending, pool.map(tap, pending)))
            answers += [a for a in answered.values() if a.status_code == 303]
            pending = [port for port, a in answered.items() if a.status_code == 503]
            time.sleep(0.2 if pending else 0)
    assert not pending and len(answers) == len(cluster.app_ports)
    assert len({a.headers["Location"] for a in answers}) == 1
    assert len(set((cluster.data_dir / "sessions").glob("*.json")) - before) == 1
