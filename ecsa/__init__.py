"""ECSA Workshop: a live, multi-user worksheet for the experience of care improvement self-assessment.

Importing `ecsa` (or any domain module in it: `ecsa.worksheet`, `ecsa.storage`…) loads no
Flask: the domain runs, and is tested, without the web layer. Flask and its extensions are
imported by `create_app()`, by `ecsa.views` and `ecsa.realtime`, and by the `htmx`
singleton the first time it is asked for (tests/test_domain_imports.py holds this).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from . import config as config_module
from .framework import load_framework
from .once import Once
from .workshops import Workshops

if TYPE_CHECKING:
    from flask import Flask
    from flask_htmx import HTMX

__version__ = "0.1.0"

_made_lock = threading.Lock()


def create_app(config: dict | None = None) -> Flask:
    """Build the app: configuration, framework, session registry, views."""
    from flask import Flask

    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_mapping(config_module.defaults())
    app.config.update(config or {})
    app.extensions["ecsa.startup_warnings"] = []  # said by app.py before it serves
    if not app.config.get("SECRET_KEY"):
        use_secret_key(app)
    framework = load_framework(app.config["FRAMEWORK_PATH"])
    app.extensions["ecsa"] = Workshops(f"{app.config['DATA_DIR']}/sessions", framework)
    app.extensions["ecsa.once"] = Once()
    _htmx().init_app(app)
    from .views import register
    register(app)
    from .realtime import init_app as init_realtime
    init_realtime(app)
    trust_proxies(app)
    return app


def __getattr__(name: str):
    """`ecsa.htmx` (as in `from ecsa import htmx`): made, with Flask, on first use (PEP 562)."""
    if name == "htmx":
        return _htmx()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _htmx() -> HTMX:
    """The one Flask-HTMX extension object, bound to each app by create_app()."""
    with _made_lock:
        if "htmx" not in globals():
            from flask_htmx import HTMX
            globals()["htmx"] = HTMX()  # from now on found directly, without __getattr__
        return globals()["htmx"]


def use_secret_key(app: Flask) -> None:
    """Sign cookies with the data folder's key (made on first run), noting if it was remade."""
    app.config["SECRET_KEY"], warning = config_module.secret_key(app.config["DATA_DIR"])
    if warning:
        app.extensions["ecsa.startup_warnings"].append(warning)


def trust_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES reverse proxies, take the client's address, scheme and host
    from their X-Forwarded-* headers (for the join limiter, links and origin checks).

    Wrapped outermost, so the live socket sees the same. With none trusted the headers
    are ignored: any client can send them, and could then dodge the join limiter.
    """
    proxies = app.config.get("TRUSTED_PROXIES", 0)
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)


def compile_templates(app: Flask) -> int:
    """Compile every page template now, so the first person to open a page (or cast the
    first vote) does not wait ~0.1 s for it while holding up everyone else's live updates."""
    names = [name for name in app.jinja_env.list_templates() if name.endswith(".html")]
    for name in names:
        app.jinja_env.get_template(name)
    return len(names)


def workshops() -> Workshops:
    """The current app's session registry."""
    from flask import current_app  # already loaded by then: a dictionary look-up, not an import
    return current_app.extensions["ecsa"]
