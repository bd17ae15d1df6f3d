"""Where a session's room lives: in this process alone, or under a lease in Redis.

`python app.py` serves every session itself: `LocalPlacement` grants every room at once and
join codes stay in the process's own index, exactly as before this module existed.

With `ECSA_REDIS_URL` set, several processes serve one data folder behind a proxy that
routes by session id, and a session's file must still have exactly one writer. So a
process opens a session's room only while it holds the session's lease,
`lease:<session>` = this process's name, set only if absent and expiring after
`ECSA_LEASE_SECONDS`. One background thread renews every held lease each third of that
time, through a script that renews only the owner's lease; a room closed here releases
its lease the same way. A lease that cannot be renewed in time is given up *before* it can
expire in Redis (`on_lost`): the room stops being served here, so another process that
takes the lease next is never a second writer. Join codes are kept in the hash
`ecsa:codes` (code -> session id) so any process can resolve one.

Redis that cannot be reached refuses new room opens (`PlacementUnavailable`) and is tried
again after a growing pause: one line in the log when it goes and one when it is back,
never a traceback per request.

This module imports no Flask; the Redis client is made by `placement_for`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

CODES_KEY = "ecsa:codes"
# Renew or release only a lease this process still owns: a lease that expired and was
# taken by another process must not be extended or deleted by the one that lost it.
RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
         "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end")
RELEASE = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
           "return redis.call('del', KEYS[1]) else return 0 end")
# Give back a join code only while it still names the session whose create failed.
RELEASE_CODE = ("if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then "
                "return redis.call('hdel', KEYS[1], ARGV[1]) else return 0 end")
# Forget a submission whose work failed only while it is still marked under way (""), so
# a repeat does it again; a result already recorded is never removed.
DROP_ATTEMPT = ("if redis.call('get', KEYS[1]) == '' then "
                "return redis.call('del', KEYS[1]) else return 0 end")
ATTEMPT_UNDER_WAY_SECONDS = 30  # a process that dies mid-create frees the submission after this
ATTEMPT_KEPT_SECONDS = 600      # how long a repeat (a resend, a double tap) gets the first's result
# How long a repeat waits for the first to finish before answering 503: a browser without
# JavaScript cannot send a form again by itself, so most repeats should get the result.
ATTEMPT_WAIT_SECONDS = 5.0
BACKOFF_FIRST, BACKOFF_MOST = 0.5, 8.0  # seconds between tries while Redis cannot be reached


def lease_key(session_id: str) -> str:
    """The Redis key of a session's lease."""
    return f"lease:{session_id}"


def process_name(configured: str | None = None) -> str:
    """This process's name in leases: ECSA_PROCESS_NAME, or host:pid."""
    return configured or f"{socket.gethostname()}:{os.getpid()}"


def redact(url: str) -> str:
    """A Redis address fit for a log line: any password replaced by ***."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


class RoomElsewhere(Exception):
    """Another process serves this session now: ask again in a moment (503, Retry-After: 1)."""

    message = "This session is moving to another server; this page will retry."

    def __init__(self, session_id: str, holder: str | None = None):
        super().__init__(f"session {session_id} is held by {holder or 'another process'}")
        self.session_id, self.holder = session_id, holder


class AttemptUnderWay(RoomElsewhere):
    """The same form is being handled by another process right now: ask again in a moment."""

    message = "This form is still being sent; this page will retry."

    def __init__(self):
        Exception.__init__(self, "the same submission is under way in another process")
        self.session_id, self.holder = None, None


class PlacementUnavailable(RoomElsewhere):
    """The session directory (Redis) cannot be reached, so no room can be opened now."""

    message = ("The workshop server cannot reach its session directory just now. "
               "This page will retry; nothing you saved is lost.")


class LocalPlacement:
    """One process serves every session: every room is granted, codes stay in memory."""

    shared = False

    def acquire(self, session_id: str) -> None:
        """Grant the room (nothing else could be serving it)."""

    def release(self, session_id: str) -> None:
        """Nothing to give back."""

    def holds(self, session_id: str) -> bool:
        """Always: no other process could serve it."""
        return True

    def publish_codes(self, codes: dict[str, str]) -> None:
        """Nothing to publish: the process's own index is the directory."""

    def reserve_code(self, code: str, session_id: str) -> bool:
        """Always free here (the caller checked its own index)."""
        return True

    def session_of_code(self, code: str) -> str | None:
        """No shared directory: the caller's own index answers."""
        return None

    def release_code(self, code: str, session_id: str) -> None:
        """Nothing was reserved outside the process."""

    def run_once(self, name: str, work: Callable):
        """No other process could have the same submission: just do it."""
        return work()

    def start(self, on_lost: Callable[[str], None]) -> None:
        """No leases to renew."""

    def stop(self) -> None:
        """No renewal thread to stop."""


class RedisPlacement:
    """Leases and join codes in Redis, shared by every process serving the data folder."""

    shared = True

    def __init__(self, client, owner: str, lease_seconds: float, clock: Callable[[], float] = time.monotonic):
        import redis  # only multi-process mode needs the client library

        self.client, self.owner, self.lease, self.clock = client, owner, float(lease_seconds), clock
        self.errors = (redis.ConnectionError, redis.TimeoutError)
        self.interval = self.lease / 3
        # A renewal that hangs this long is counted as failed, so the room is given up in time.
        self.wait_most = min(0.5, self.lease / 10)
        self._renew, self._release = client.register_script(RENEW), client.register_script(RELEASE)
        self._release_code = client.register_script(RELEASE_CODE)
        self._drop_attempt = client.register_script(DROP_ATTEMPT)
        self._held: dict[str, float] = {}  # session id -> when its lease may expire, at the earliest
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._retry_at, self._backoff = 0.0, BACKOFF_FIRST
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.attempt_wait = ATTEMPT_WAIT_SECONDS
        self.on_lost: Callable[[str], None] = lambda session_id: None

    # --- leases ----------------------------------------------------------------------

    def acquire(self, session_id: str) -> None:
        """Take the session's lease (or find it already ours); RoomElsewhere if another
        process holds it, PlacementUnavailable if Redis cannot be asked."""
        key, asked = lease_key(session_id), self.clock()
        taken = self._call(lambda: self.client.set(key, self.owner, nx=True, px=self._ms()))
        if not taken:
            holder = self._call(lambda: self.client.get(key))
            if holder != self.owner or not self._call(lambda: self._renew(keys=[key], args=[self.owner, self._ms()])):
                raise RoomElsewhere(session_id, holder)
        with self._lock:
            self._held[session_id] = asked + self.lease  # Redis set it after we asked: never later

    def release(self, session_id: str) -> None:
        """Give the lease back as the room closes (if Redis is away, it simply expires)."""
        with self._lock:
            self._held.pop(session_id, None)
        try:
            self._call(lambda: self._release(keys=[lease_key(session_id)], args=[self.owner]))
        except PlacementUnavailable:
            pass

    def holds(self, session_id: str) -> bool:
        """Whether this process certainly still holds the session's lease."""
        with self._lock:
            until = self._held.get(session_id)
        return until is not None and self.clock() < until

    def held(self) -> list[str]:
        """The sessions whose leases this process holds."""
        with self._lock:
            return sorted(self._held)

    def renew_all(self) -> list[str]:
        """Renew every held lease once; returns the sessions given up (lost, or not renewable
        before they could expire), after telling `on_lost` of each."""
        lost = []
        for session_id in self.held():
            asked = self.clock()
            try:
                renewed = self._call(lambda: self._renew(keys=[lease_key(session_id)],
                                                         args=[self.owner, self._ms()]))
            except PlacementUnavailable:
                renewed = None
            with self._lock:
                if renewed:
                    self._held[session_id] = asked + self.lease
                    continue
                # Give it up now unless the next renewal (which may hang `wait_most`) still
                # comes before the lease could expire: never two writers.
                if renewed is None and self.clock() + self.interval + self.wait_most < self._held.get(session_id, 0):
                    continue
                self._held.pop(session_id, None)
            lost.append(session_id)
            log.warning("placement: gave up session %s (%s)", session_id,
                        "another process holds its lease" if renewed == 0 else "its lease could not be renewed")
            self.on_lost(session_id)
        return lost

    def _ms(self) -> int:
        return int(self.lease * 1000)

    def check(self) -> None:
        """PlacementUnavailable unless Redis answers (at start-up: a wrong address is one line)."""
        self._call(self.client.ping)

    # --- join codes ------------------------------------------------------------------

    def publish_codes(self, codes: dict[str, str]) -> None:
        """Make the join codes of the sessions found at start-up resolvable by every process."""
        if codes:
            self._call(lambda: self.client.hset(CODES_KEY, mapping=codes))

    def reserve_code(self, code: str, session_id: str) -> bool:
        """Claim a join code for a new session; False if another process's session has it."""
        return bool(self._call(lambda: self.client.hsetnx(CODES_KEY, code, session_id)))

    def session_of_code(self, code: str) -> str | None:
        """The session a join code belongs to, as any process published it."""
        return self._call(lambda: self.client.hget(CODES_KEY, code))

    def release_code(self, code: str, session_id: str) -> None:
        """Give back a code reserved for a session whose create failed, if it still names
        that session (if Redis is away, the code stays taken: one code of 244 million)."""
        try:
            self._call(lambda: self._release_code(keys=[CODES_KEY], args=[code, session_id]))
        except PlacementUnavailable:
            log.warning("placement: join code of failed session %s left reserved (Redis away)", session_id)

    # --- one submission, once, whichever process it lands on ----------------------------

    def run_once(self, name: str, work: Callable):
        """work() if no process has claimed the submission `name`; else the first's result
        (JSON), or AttemptUnderWay (503, asked again) while the first is still at it."""
        key = f"once:{name}"
        if not self._call(lambda: self.client.set(key, "", nx=True, ex=ATTEMPT_UNDER_WAY_SECONDS)):
            return self._result_of(key)
        try:
            result = work()
        except BaseException:
            self._forget_attempt(key)
            raise
        try:
            self._call(lambda: self.client.set(key, json.dumps(result), ex=ATTEMPT_KEPT_SECONDS))
        except PlacementUnavailable:  # done all the same: this process remembers it (ecsa/once.py)
            log.warning("placement: a submission's result could not be recorded (Redis away)")
        return result

    def _result_of(self, key: str):
        """The result another process recorded for a submission, waiting `attempt_wait` for
        it while that process is still at it; then AttemptUnderWay (ask again)."""
        give_up = self.clock() + self.attempt_wait
        while True:
            recorded = self._call(lambda: self.client.get(key))
            if recorded:
                return json.loads(recorded)
            if recorded is None or self.clock() >= give_up:  # it failed meanwhile, or is slow
                raise AttemptUnderWay()
            time.sleep(0.05)

    def _forget_attempt(self, key: str) -> None:
        """A submission that failed may be tried again at once (Redis away: once it expires)."""
        try:
            self._call(lambda: self._drop_attempt(keys=[key]))
        except PlacementUnavailable:
            pass

    # --- Redis, and when it is away ----------------------------------------------------

    def _call(self, command: Callable):
        """Run one Redis command; PlacementUnavailable (without trying, while backing off)
        if Redis cannot be reached. Its going and coming back are logged once each."""
        now = self.clock()
        if self._down_since is not None and now < self._retry_at:
            raise PlacementUnavailable("-")
        try:
            result = command()
        except self.errors as error:
            self._went_away(now, error)
            raise PlacementUnavailable("-") from None
        if self._down_since is not None:
            log.warning("placement: Redis is back after %.1f s", self.clock() - self._down_since)
            self._down_since, self._backoff = None, BACKOFF_FIRST
        return result

    def _went_away(self, now: float, error: Exception) -> None:
        """Note a failed call: say so once, and wait longer before each next try."""
        if self._down_since is None:
            self._down_since = now
            log.warning("placement: Redis cannot be reached (%s); new rooms are refused until it is back", error)
        else:
            self._backoff = min(self._backoff * 2, BACKOFF_MOST)
        self._retry_at = now + self._backoff

    # --- the renewal thread ------------------------------------------------------------

    def start(self, on_lost: Callable[[str], None]) -> None:
        """Renew held leases every third of the lease time, in one daemon thread."""
        self.on_lost = on_lost
        self._thread = threading.Thread(target=self._run, name="ecsa-lease-renewal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.renew_all()
            except Exception:  # a bug here must not end renewal for every other room
                log.exception("placement: renewing leases failed")

    def stop(self) -> None:
        """Stop renewing (the leases then expire, or are released by closing rooms)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)


def placement_for(redis_url: str | None, lease_seconds: float = 5, name: str | None = None):
    """The placement a configuration asks for: LocalPlacement without a Redis URL."""
    if not redis_url:
        return LocalPlacement()
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    wait = min(0.5, lease_seconds / 10)
    # No retries inside the client: a renewal must fail within `wait`, and this module
    # backs off itself while Redis is away.
    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=wait,
                                  socket_connect_timeout=wait, retry=Retry(NoBackoff(), 0))
    return RedisPlacement(client, process_name(name), lease_seconds)


def placed(wsgi_app, open_room: Callable[[str], object], name: str):
    """WSGI middleware for multi-process mode, outside Socket.IO's own.

    Every response says which process answered (`X-ECSA-Process`), so routing can be seen
    and tested. A socket's first request (Engine.IO's handshake: no `sid` yet) for a session
    another process serves is answered 503 with Retry-After: 1 before a connection is made,
    so the client's own reconnection tries again quietly, and finds the process that took
    the session. `open_room(session_id)` opens the room here or raises RoomElsewhere.
    """
    from urllib.parse import parse_qs

    process = ("X-ECSA-Process", name)

    def app(environ, start_response):
        def with_name(status, headers, exc_info=None):
            return start_response(status, [*headers, process], exc_info)

        if environ.get("PATH_INFO", "").startswith("/socket.io/"):
            query = parse_qs(environ.get("QUERY_STRING", ""))
            session_id = (query.get("session") or [None])[0]
            if session_id and "sid" not in query:
                try:
                    open_room(session_id)
                except RoomElsewhere as elsewhere:
                    with_name("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8"),
                                                          ("Retry-After", "1")])
                    return [elsewhere.message.encode()]
        return wsgi_app(environ, with_name)
    return app
