"""What `python app.py` does before serving anyone."""

from ecsa import compile_templates


def test_every_page_template_is_compiled_before_the_first_request(app):
    names = [name for name in app.jinja_env.list_templates() if name.endswith(".html")]
    assert compile_templates(app) == len(names) >= 10
    cached = {key[1] for key in app.jinja_env.cache.keys()}  # Jinja keys its cache by (loader, name)
    assert set(names) <= cached
