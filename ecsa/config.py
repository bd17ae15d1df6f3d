"""Configuration: defaults, environment overrides and the secret key kept in the data folder."""

from __future__ import annotations

import difflib
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from .storage import atomic_write

ROOT = Path(__file__).resolve().parent.parent
# Our own keys are 64 hex characters. A short one is most likely typed by someone, and a
# typed key can be guessed offline from one signed cookie: then anyone could sign
# themselves in as the facilitator.
SECRET_KEY_MIN_LENGTH = 32


class StartupError(Exception):
    """Something the person starting the server must fix; the message is one line saying
    what is wrong and how to fix it."""


def a_path(text: str) -> str:
    """A file or folder name, taken as given (whether it can be used is checked when it is)."""
    return text


def zero_or_one(text: str) -> bool:
    """`1` (on) or `0` (off)."""
    if text.strip() not in ("0", "1"):
        raise ValueError("must be 1 (on) or 0 (off)")
    return text.strip() == "1"


def whole_number(least: int):
    """A reader for a whole number no smaller than `least`."""
    def read(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = least - 1
        if number < least:
            raise ValueError(f"must be a whole number, {least} or more")
        return number
    return read


def whole_number_from(least: int, most: int):
    """A reader for a whole number from `least` to `most`."""
    def read(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = least - 1
        if not least <= number <= most:
            raise ValueError(f"must be a whole number from {least} to {most}")
        return number
    return read


def redis_url(text: str) -> str:
    """A Redis address: redis://host[:port][/db], rediss://… (TLS) or unix:///path/to/socket."""
    problem = "must be a Redis address like redis://127.0.0.1:6379/0 (or rediss://…, unix:///path)"
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018  (raises for a port that is not a number from 0 to 65535)
    except ValueError:
        raise ValueError(problem) from None
    scheme = parts.scheme.lower()
    if not ((scheme in ("redis", "rediss") and parts.hostname) or (scheme == "unix" and parts.path)):
        raise ValueError(problem)
    return text.strip()


def process_name(text: str) -> str:
    """A name for this process in session leases: printable, no spaces, at most 100 characters."""
    name = text.strip()
    if len(name) > 100 or not name.isprintable() or " " in name:
        raise ValueError("must be a short name without spaces, like web1:5001 (at most 100 characters)")
    return name


def http_url(text: str) -> str:
    """An http:// or https:// address with a host (a path is kept: a proxy may add one)."""
    parts = _http_parts(text, "must be an http:// or https:// address, like https://ecsa.example.nhs.uk")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError("must be a plain http(s) address, without a query (?…), fragment (#…) or user name")
    return text.strip()


def http_origins(text: str) -> str:
    """A comma-separated list of http(s) origins: scheme://host[:port], nothing after."""
    for item in filter(None, (item.strip() for item in text.split(","))):
        # A browser's Origin header never has a path, so an entry with one would never match.
        problem = f"must list origins like https://ecsa.example.nhs.uk, separated by commas ({item!r} is not one)"
        parts = _http_parts(item, problem)
        if parts.path or parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError(problem)
    return text


def _http_parts(text: str, problem: str):
    """The parts of an http(s) URL with a host and a valid port, or ValueError(problem)."""
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018  (raises for a port that is not a number from 0 to 65535)
    except ValueError:
        raise ValueError(problem) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(problem)
    return parts


# Every setting the environment can change: variable -> (config key, reader, default).
# An empty value counts as unset, so `ECSA_PUBLIC_URL=` in a service file means the default.
SETTINGS = {
    "ECSA_DATA_DIR": ("DATA_DIR", a_path, str(ROOT / "data")),
    "ECSA_FRAMEWORK": ("FRAMEWORK_PATH", a_path, str(ROOT / "framework.json")),
    "ECSA_PUBLIC_URL": ("PUBLIC_URL", http_url, None),
    # Extra browser origins allowed to open the live socket (comma-separated).
    "ECSA_ALLOWED_ORIGINS": ("ALLOWED_ORIGINS_LIST", http_origins, ""),
    "ECSA_SECURE_COOKIES": ("SESSION_COOKIE_SECURE", zero_or_one, False),
    "ECSA_JOIN_ATTEMPTS_PER_MINUTE": ("JOIN_ATTEMPTS_PER_MINUTE", whole_number(1), 10),
    # How many reverse proxies in front of the app may say, in X-Forwarded-For/-Proto/-Host,
    # who the client is; with none trusted those headers are ignored (anyone can send them).
    "ECSA_TRUSTED_PROXIES": ("TRUSTED_PROXIES", whole_number(0), 0),
    # The live layer's speed-ups that reach into Socket.IO's private internals (direct
    # WebSocket writes, ecsa/realtime/transport.py): 1 uses them where the installed versions
    # are the ones they were written for, 0 always runs the libraries' stock path.
    "ECSA_FAST_TRANSPORT": ("FAST_TRANSPORT", zero_or_one, True),
    # More than one process (README "More than one process"): unset, `python app.py` serves
    # every session itself. Set, each session's room is placed on one process by a lease
    # in this Redis, join codes are shared there, and Socket.IO emits travel through it.
    "ECSA_REDIS_URL": ("REDIS_URL", redis_url, None),
    # How long a process's lease on a session lasts unrenewed: the longest a session waits
    # for another process after the one serving it dies.
    "ECSA_LEASE_SECONDS": ("LEASE_SECONDS", whole_number_from(1, 60), 5),
    # This process's name in leases (default host:pid, decided when the process starts).
    "ECSA_PROCESS_NAME": ("PROCESS_NAME", process_name, None),
}


def from_environment(environ=os.environ) -> dict:
    """The configuration the ECSA_* variables set (defaults for those unset), or a
    StartupError naming the first variable that is not valid and what it must be."""
    config = {}
    for name, (key, read, default) in SETTINGS.items():
        text = environ.get(name, "")
        try:
            config[key] = read(text) if text.strip() else default
        except ValueError as problem:
            raise StartupError(f"{name} {problem}; it is {text!r}") from None
    return config


def unknown_settings(environ=os.environ) -> list[str]:
    """A warning for each ECSA_* variable this version does not know: most likely a typo,
    which would otherwise be ignored without a word (ECSA_SECURE_COOKIE=1 leaves cookies
    insecure)."""
    warnings = []
    for name in sorted(n for n in environ if n.startswith("ECSA_") and n not in SETTINGS):
        close = difflib.get_close_matches(name, SETTINGS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{name} is not an ECSA Workshop setting and is ignored{hint}")
    return warnings


def defaults() -> dict:
    """The configuration a plain `python app.py` runs with; ECSA_* variables override it."""
    return {
        # The biggest thing anyone sends is an imported record (5 MB) in a multipart form.
        "MAX_CONTENT_LENGTH": 6 * 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 6 * 1024 * 1024,
        "SESSION_COOKIE_NAME": "ecsa",
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 60 * 60 * 24 * 30,
        **from_environment(),
    }


def secret_key(data_dir: str) -> tuple[str, str | None]:
    """The app's secret key, generated once and kept in the data folder with mode 0600;
    with a warning to show when an empty key file had to be given a new key."""
    path = Path(data_dir) / "secret_key"
    try:
        key = path.read_bytes().decode("utf-8").strip()
    except FileNotFoundError:
        return _first_secret_key(path), None
    except (OSError, UnicodeError) as error:
        # Never replaced: fixing the file keeps everyone joined, and a new key would not.
        reason = getattr(error, "strerror", None) or "it is not text"
        raise StartupError(f"the secret key file {path} cannot be read ({reason}): fix it, or delete it to "
                           "have a new key made (everyone who has joined will have to join again)") from None
    if not key:
        # No key is lost by replacing a file with none in it (a full disk, a restore, a
        # `touch`): deleting it is the only fix, so do it and say what it means.
        return _new_secret_key(path), (f"the secret key file {path} was empty, so a new key was made: "
                                       "everyone who had joined must join again "
                                       "(facilitators: open your private facilitator link)")
    if len(key) < SECRET_KEY_MIN_LENGTH:
        raise StartupError(f"the secret key in {path} is too short ({len(key)} characters; at least "
                           f"{SECRET_KEY_MIN_LENGTH} are needed to sign cookies safely): delete the file to "
                           "have a new key made (everyone who has joined will have to join again)")
    return key, None


def _first_secret_key(path: Path) -> str:
    """Make the folder's first key, unless another process sharing the folder (more than one
    process: README) makes it at the same moment: then its key is used, so all sign alike.
    The key is written whole under another name and linked into place, which fails rather
    than replace a key that is already there."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    key = secrets.token_hex(32)
    atomic_write(draft, key.encode())
    try:
        os.link(draft, path)
    except FileExistsError:
        key = path.read_bytes().decode("utf-8").strip()
    finally:
        draft.unlink()
    return key


def _new_secret_key(path: Path) -> str:
    """Make and keep a new random key (written atomically: never a half-written file)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    atomic_write(path, key.encode())
    return key
