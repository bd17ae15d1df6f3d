"""ECSA Workshop: a live, multi-user worksheet for the experience of care improvement self-assessment."""

from __future__ import annotations

from flask import Flask, current_app
from flask_htmx import HTMX

from . import config as config_module
from .framework import load_framework
from .once import Once
from .workshops import Workshops

__version__ = "0.1.0"

htmx = HTMX()


def create_app(config: dict | None = None) -> Flask:
    """Build the app: configuration, framework, session registry, views."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_mapping(config_module.defaults())
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config_module.secret_key(app.config["DATA_DIR"])
    framework = load_framework(app.config["FRAMEWORK_PATH"])
    app.extensions["ecsa"] = Workshops(f"{app.config['DATA_DIR']}/sessions", framework)
    app.extensions["ecsa.once"] = Once()
    htmx.init_app(app)
    from .views import register
    register(app)
    from .realtime import init_app as init_realtime
    init_realtime(app)
    return app


def compile_templates(app: Flask) -> int:
    """Compile every page template now, so the first person to open a page (or cast the
    first vote) does not wait ~0.1 s for it while holding up everyone else's live updates."""
    names = [name for name in app.jinja_env.list_templates() if name.endswith(".html")]
    for name in names:
        app.jinja_env.get_template(name)
    return len(names)


def workshops() -> Workshops:
    """The current app's session registry."""
    return current_app.extensions["ecsa"]
