"""The domain is plain Python: importing any of its modules loads no Flask and no web
extension, so it runs (and is tested) without the web layer, and `create_app` still
lives in `ecsa/__init__.py`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DOMAIN = ["events", "worksheet", "textmerge", "record", "forms", "framework", "storage", "notes",
          "yupdate", "layout", "origins", "ratelimit", "datalock", "config", "workshop", "workshops",
          "once"]
WEB = ["flask", "flask_htmx", "flask_socketio", "jinja2_fragments", "werkzeug"]
ROOT = Path(__file__).resolve().parent.parent


def loaded_after(code: str) -> dict:
    """Run code in a fresh interpreter; report which of the WEB packages it loaded."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{n: n in sys.modules for n in {WEB!r}}}))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_every_domain_module_imports_without_flask():
    imports = "\n".join(f"import ecsa.{name}" for name in DOMAIN)
    loaded = loaded_after(imports)
    assert not any(loaded.values()), f"the domain loaded {[n for n, yes in loaded.items() if yes]}"


def test_each_domain_module_alone_imports_without_flask():
    """In turn, so that a failure names the first module that brought Flask in."""
    code = "\n".join(["import importlib, json, sys",
                      f"for name in {DOMAIN!r}:",
                      "    importlib.import_module('ecsa.' + name)",
                      f"    bad = [n for n in {WEB!r} if n in sys.modules]",
                      "    assert not bad, f'ecsa.{name} loaded {bad}'"])
    assert not any(loaded_after(code).values())


def test_the_app_factory_and_the_htmx_extension_are_still_where_they_were():
    loaded = loaded_after("from ecsa import create_app, compile_templates, workshops\n"
                          "import ecsa\nassert callable(create_app) and callable(workshops)\n"
                          "from ecsa import htmx\nassert htmx is ecsa.htmx")
    assert loaded["flask_htmx"]  # asked for, the extension (and Flask) arrive
