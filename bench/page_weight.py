"""Page weight: gzip bytes of the indicator page's HTML plus every asset it loads.

The page is rendered for a participant of a seeded session; its assets are what the
HTML names (scripts, stylesheets, icon) plus what those stylesheets name with url()
(counted in full, an upper bound: a browser fetches a CSS image only if a rule uses it).
Each file is compressed with gzip level 6, as a reverse proxy would typically serve it.
"""

from __future__ import annotations

import gzip
import re
import tempfile
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from .workshop_seed import INDICATOR, seed

CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")


class AssetLinks(HTMLParser):
    """Collects the URLs a page loads by itself: scripts, stylesheets, icons, images."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        """Note the src/href of tags that make the browser fetch something."""
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"])
        elif tag == "link" and a.get("href") and {"stylesheet", "icon", "preload", "modulepreload"} & set(
                (a.get("rel") or "").split()):
            self.urls.append(a["href"])
        elif tag == "img" and a.get("src") and not a["src"].startswith("data:"):
            self.urls.append(a["src"])


def gz(data: bytes) -> int:
    """Size after gzip level 6."""
    return len(gzip.compress(data, compresslevel=6))


def css_assets(css_url: str, css: bytes) -> list[str]:
    """The local URLs a stylesheet names with url() (data: URIs are already inside it)."""
    found = [urljoin(css_url, u) for u in CSS_URL.findall(css.decode("utf-8", "replace"))
             if not u.startswith(("data:", "#"))]
    return sorted(set(u for u in found if not urlsplit(u).netloc))


def fetch(client, url: str) -> bytes:
    """The body of a GET, raising on anything but 200."""
    response = client.get(url)
    assert response.status_code == 200, f"{url} answered {response.status_code}"
    body = response.get_data()
    response.close()
    return body


def run() -> dict:
    """Rows (name, raw bytes, gzip bytes) for the page and each asset, and the totals."""
    from ecsa import create_app
    with tempfile.TemporaryDirectory() as data:
        app = create_app({"DATA_DIR": data})
        seeded = seed(app)
        page_url = f"/s/{seeded.session_id}/i/{INDICATOR}"
        html = fetch(seeded.client, page_url)
        rows = [{"name": "indicator page (HTML)", "raw": len(html), "gzip": gz(html), "kind": "html"}]
        links = AssetLinks()
        links.feed(html.decode())
        for url in dict.fromkeys(links.urls):
            body = fetch(seeded.client, url)
            rows.append({"name": urlsplit(url).path, "raw": len(body), "gzip": gz(body), "kind": "asset"})
            if urlsplit(url).path.endswith(".css"):
                for extra in css_assets(url, body):
                    inner = fetch(seeded.client, extra)
                    rows.append({"name": urlsplit(extra).path, "raw": len(inner), "gzip": gz(inner),
                                 "kind": "css url()"})
    return {"rows": rows, "raw": sum(r["raw"] for r in rows), "gzip": sum(r["gzip"] for r in rows)}
