"""The ECSA_* settings as the app reads them: trusted proxies, empty values, typos."""

import re

import pytest
from flask import request

from ecsa import create_app
from ecsa.config import SETTINGS, from_environment, unknown_settings

from conftest import SESSION_FORM

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "ecsa.example.nhs.uk"}


def proxied_app(tmp_path, proxies: int):
    """An app behind `proxies` trusted reverse proxies, with a page saying who it thinks asked."""
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "TRUSTED_PROXIES": proxies})
    app.add_url_rule("/who-asked", view_func=lambda: f"{request.scheme}://{request.host} {request.remote_addr}")
    return app


def test_behind_a_trusted_proxy_the_client_is_who_the_proxy_says(tmp_path):
    answer = proxied_app(tmp_path, 1).test_client().get("/who-asked", headers=FORWARDED)
    # The join-code limit counts this address, not the proxy's, which the whole room shares.
    assert answer.get_data(as_text=True) == "https://ecsa.example.nhs.uk 203.0.113.7"


def test_without_trusted_proxies_x_forwarded_headers_are_ignored(tmp_path):
    answer = proxied_app(tmp_path, 0).test_client().get("/who-asked", headers=FORWARDED)
    # Anyone can send these headers: trusted blindly, they would dodge the join-code limit.
    assert answer.get_data(as_text=True) == "http://localhost 127.0.0.1"


def test_ecsa_trusted_proxies_counts_hops_from_the_server(monkeypatch, tmp_path):
    monkeypatch.setenv("ECSA_TRUSTED_PROXIES", "2")
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data")})
    assert app.config["TRUSTED_PROXIES"] == 2
    app.add_url_rule("/who-asked", view_func=lambda: request.remote_addr)
    # What the client claimed, the client as the outer proxy saw it, the outer proxy as the inner one saw it.
    chain = {"X-Forwarded-For": "192.0.2.1, 198.51.100.7, 10.0.0.1"}
    assert app.test_client().get("/who-asked", headers=chain).get_data(as_text=True) == "198.51.100.7"


@pytest.mark.parametrize("proxies, status", [(1, 200), (0, 400)])
def test_the_live_socket_opens_from_the_page_behind_a_trusted_https_proxy(tmp_path, proxies, status):
    handshake = proxied_app(tmp_path, proxies).test_client().get(
        "/socket.io/?EIO=4&transport=polling", headers=dict(FORWARDED, Origin="https://ecsa.example.nhs.uk"))
    assert handshake.status_code == status  # untrusted, the page's https origin looks foreign


@pytest.mark.parametrize("proxies, link", [(1, "https://ecsa.example.nhs.uk/join/"), (0, "http://localhost/join/")])
def test_join_links_use_the_address_the_trusted_proxy_was_asked_for(tmp_path, proxies, link):
    client = proxied_app(tmp_path, proxies).test_client()
    share = client.post("/sessions", data=SESSION_FORM).headers["Location"]
    page = client.get(share, headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ecsa.example.nhs.uk"})
    assert re.search(re.escape(link) + r"[A-Z0-9]{6}", page.get_data(as_text=True))


def test_an_empty_setting_means_its_default():
    assert from_environment({name: "" for name in SETTINGS}) == from_environment({})


def test_each_setting_is_read_into_its_config_key():
    config = from_environment({"ECSA_SECURE_COOKIES": "1", "ECSA_JOIN_ATTEMPTS_PER_MINUTE": "5",
                               "ECSA_PUBLIC_URL": "https://ecsa.example.nhs.uk/",
                               "ECSA_ALLOWED_ORIGINS": "https://a.example.nhs.uk, http://b.example.nhs.uk:8000",
                               "ECSA_TRUSTED_PROXIES": "1", "ECSA_DATA_DIR": "/srv/ecsa"})
    assert config["SESSION_COOKIE_SECURE"] is True and config["JOIN_ATTEMPTS_PER_MINUTE"] == 5
    assert config["PUBLIC_URL"] == "https://ecsa.example.nhs.uk/" and config["TRUSTED_PROXIES"] == 1
    assert config["ALLOWED_ORIGINS_LIST"] == "https://a.example.nhs.uk, http://b.example.nhs.uk:8000"
    assert config["DATA_DIR"] == "/srv/ecsa"


def test_a_misspelt_setting_is_warned_about_with_the_likely_one():
    assert unknown_settings({"ECSA_SECURE_COOKIE": "1", "ECSA_PUBLIC_URL": "https://x.nhs.uk", "HOME": "/"}) == [
        "ECSA_SECURE_COOKIE is not an ECSA Workshop setting and is ignored (did you mean ECSA_SECURE_COOKIES?)"]
