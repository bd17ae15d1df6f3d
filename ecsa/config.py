"""Configuration: defaults, environment overrides and the secret key kept in the data folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .storage import atomic_write

ROOT = Path(__file__).resolve().parent.parent


def defaults() -> dict:
    """The configuration a plain `python app.py` runs with; ECSA_* variables override it."""
    return {
        "DATA_DIR": os.environ.get("ECSA_DATA_DIR", str(ROOT / "data")),
        "FRAMEWORK_PATH": os.environ.get("ECSA_FRAMEWORK", str(ROOT / "framework.json")),
        # The biggest thing anyone sends is an imported record (5 MB) in a multipart form.
        "MAX_CONTENT_LENGTH": 6 * 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 6 * 1024 * 1024,
        "SESSION_COOKIE_NAME": "ecsa",
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("ECSA_SECURE_COOKIES") == "1",
        "PERMANENT_SESSION_LIFETIME": 60 * 60 * 24 * 30,
        "JOIN_ATTEMPTS_PER_MINUTE": int(os.environ.get("ECSA_JOIN_ATTEMPTS_PER_MINUTE", "10")),
        "PUBLIC_URL": os.environ.get("ECSA_PUBLIC_URL"),
        # Extra browser origins allowed to open the live socket (comma-separated).
        "ALLOWED_ORIGINS_LIST": os.environ.get("ECSA_ALLOWED_ORIGINS", ""),
    }


def secret_key(data_dir: str) -> str:
    """The app's secret key: generated once, kept in the data folder with mode 0600."""
    path = Path(data_dir) / "secret_key"
    if not path.exists():
        Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, secrets.token_hex(32).encode())
    return path.read_text().strip()
