"""What `python app.py` does before serving anyone."""

import gc
import socket

from werkzeug.serving import WSGIRequestHandler

from ecsa import compile_templates


def test_every_page_template_is_compiled_before_the_first_request(app):
    names = [name for name in app.jinja_env.list_templates() if name.endswith(".html")]
    assert compile_templates(app) == len(names) >= 10
    cached = {key[1] for key in app.jinja_env.cache.keys()}  # Jinja keys its cache by (loader, name)
    assert set(names) <= cached


def test_app_py_compiles_templates_and_serves_with_small_writes_sent_at_once(monkeypatch, tmp_path):
    import app as entry
    monkeypatch.setenv("ECSA_DATA_DIR", str(tmp_path / "data"))
    try:
        app, server, held = entry.start("127.0.0.1", 0)
        assert gc.get_freeze_count() > 10_000  # start-up objects are kept out of full collections
    finally:
        gc.unfreeze()
    try:
        # The port is listening before anything says "running at" (serve_forever comes later).
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        assert server.multithread and server.app is app
        # TCP_NODELAY: without it a live update could wait 40 ms for the peer's delayed ACK
        assert issubclass(server.RequestHandlerClass, WSGIRequestHandler)
        assert server.RequestHandlerClass.disable_nagle_algorithm is True
        assert "indicator.html" in {key[1] for key in app.jinja_env.cache.keys()}
    finally:
        server.server_close()
        held.release()
