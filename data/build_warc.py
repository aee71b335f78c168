#!/usr/bin/env python3
"""Build data/web/crawl-sample.warc.gz: a small crawl of real HTML for configs/fineweb.yaml.

Rerun (from the repo root; needs apt-get + dpkg-deb and `warcio`):

    python3 data/build_warc.py            # cache: /tmp/corpusmill_warc_cache

The pages are Debian's packaged HTML documentation (Python 3.11 docs, PSF-2.0;
the Debian Reference in four languages, GPL-2.0-or-later), served under the
URLs they have on the web. The file is laid out like a Common Crawl WARC
(warcinfo, then a request and a response per fetch, WARC-Identified-Payload-Type
set), and holds what a crawl holds besides articles: index and search pages,
a 404, a redirect, a stylesheet and an image, the same page under two URLs, a
page in cp1252 that declares no charset, and pages from a mirror host that the
config's block list names. Output is deterministic: fixed dates, record ids
derived from the URL and position, sorted file order, gzip member headers without mtime.
"""
import datetime
import hashlib
import io
import os
import re
import subprocess
import sys
import uuid

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "web", "crawl-sample.warc.gz")
CACHE = os.environ.get("CORPUSMILL_WARC_CACHE", "/tmp/corpusmill_warc_cache")
PACKAGES = ["python3.11-doc"] + [f"debian-reference-{lang}" for lang in ("en", "de", "fr", "ja")]
PY_HTML = "usr/share/doc/python3.11/html"
PY_URL = "https://docs.python.org/3.11/"
PY_SECTIONS = ("faq", "howto", "library", "reference", "tutorial", "using")
PY_PAGES = 140  # articles, chosen by hash of their path among those under PY_MAX_BYTES
PY_MAX_BYTES = 60_000
PY_EXTRA = ["about.html", "bugs.html", "glossary.html", "genindex-A.html", "genindex-Q.html",
            "py-modindex.html", "search.html"]  # what a crawl of the site also fetches
ALIASES = 6  # articles fetched a second time under /3/ (the same bytes: exact duplicates)
MIRROR_HOST = "https://python-docs-mirror.example.net/3.11/"  # blocked by configs/fineweb.yaml
MIRRORED = 3
REF_URL = "https://www.debian.org/doc/manuals/debian-reference/"
REF_CHAPTERS = ("pr01", "apa", "ch03", "ch08")
CP1252_PAGE = ("debian-reference-de", "ch08")  # re-encoded to cp1252, its <meta charset> removed
FIRST_DATE = 1714521600  # 2024-05-01T00:00:00Z; each record one second later


def fetch() -> dict[str, str]:
    """Download and unpack the packages once; return each one's version."""
    debs, tree = os.path.join(CACHE, "debs"), os.path.join(CACHE, "x")
    os.makedirs(debs, exist_ok=True)
    versions = {}
    for pkg in PACKAGES:
        have = sorted(f for f in os.listdir(debs) if f.startswith(pkg + "_"))
        if not have:
            subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True, stdout=subprocess.DEVNULL)
            have = sorted(f for f in os.listdir(debs) if f.startswith(pkg + "_"))
        versions[pkg] = have[0].split("_")[1].replace("%3a", ":")
        if not os.path.isdir(os.path.join(tree, pkg)):
            os.makedirs(os.path.join(tree, pkg))
            subprocess.run(["dpkg-deb", "-x", os.path.join(debs, have[0]), os.path.join(tree, pkg)], check=True)
    return versions


def python_pages(tree: str) -> list[str]:
    base = os.path.join(tree, "python3.11-doc", PY_HTML)
    articles = []
    for section in PY_SECTIONS:
        for name in sorted(os.listdir(os.path.join(base, section))):
            path = f"{section}/{name}"
            if name.endswith(".html") and os.path.getsize(os.path.join(base, path)) <= PY_MAX_BYTES:
                articles.append(path)
    articles.sort(key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    return sorted(articles[:PY_PAGES]) + PY_EXTRA


class Crawl:
    """Writes request/response pairs the way Common Crawl lays them out."""

    def __init__(self, out: io.BufferedWriter):
        self.writer = WARCWriter(out, gzip=True)
        self.clock = FIRST_DATE

    def _headers(self, url: str, kind: str) -> dict[str, str]:
        self.clock += 1
        iso = datetime.datetime.fromtimestamp(self.clock, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{kind} {self.clock} {url}')}>",
                "WARC-Date": iso}

    def info(self) -> None:
        payload = (b"software: corpusmill data/build_warc.py\r\nformat: WARC File Format 1.0\r\n"
                   b"description: Debian-packaged HTML documentation served under its web URLs\r\n")
        self.writer.write_record(self.writer.create_warc_record(
            "", "warcinfo", payload=io.BytesIO(payload), length=len(payload),
            warc_content_type="application/warc-fields", warc_headers_dict=self._headers("warcinfo", "warcinfo")))

    def fetch(self, url: str, status: str, content_type: str, body: bytes, extra: list | None = None) -> None:
        host = url.split("/")[2]
        request = f"GET /{url.split('/', 3)[3]} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: corpusmill-sample\r\n\r\n"
        req_headers = self._headers(url, "request")
        self.writer.write_record(self.writer.create_warc_record(
            url, "request", payload=io.BytesIO(request.encode()), length=len(request),
            warc_content_type="application/http; msgtype=request", warc_headers_dict=req_headers))
        http = StatusAndHeaders(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))]
                                + (extra or []), protocol="HTTP/1.1")
        headers = self._headers(url, "response")
        headers["WARC-Concurrent-To"] = req_headers["WARC-Record-ID"]
        headers["WARC-Identified-Payload-Type"] = content_type.split(";")[0]
        self.writer.write_record(self.writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
            warc_headers_dict=headers))


def main() -> None:
    versions = fetch()
    tree = os.path.join(CACHE, "x")
    py_base = os.path.join(tree, "python3.11-doc", PY_HTML)
    read = lambda *parts: open(os.path.join(*parts), "rb").read()  # noqa: E731
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    counts = {}
    with open(OUT, "wb") as out:
        crawl = Crawl(out)
        crawl.info()

        fetched = set()

        def page(url, body, status="200 OK", content_type="text/html; charset=utf-8", extra=None, kind="article"):
            assert url not in fetched, f"{url} fetched twice"
            fetched.add(url)
            crawl.fetch(url, status, content_type, body, extra)
            counts[kind] = counts.get(kind, 0) + 1

        pages = python_pages(tree)
        for path in pages:
            page(PY_URL + path, read(py_base, path), kind="python-docs")
        for path in pages[:ALIASES]:
            page(PY_URL.replace("/3.11/", "/3/") + path, read(py_base, path), kind="same page, second URL")
        for path in pages[ALIASES:ALIASES + MIRRORED]:
            page(MIRROR_HOST + path, read(py_base, path), kind="blocked mirror host")
        for lang in ("en", "de", "fr", "ja"):
            pkg = f"debian-reference-{lang}"
            for chapter in REF_CHAPTERS:
                body = read(tree, pkg, "usr/share/debian-reference", f"{chapter}.{lang}.html")
                content_type = "text/html; charset=utf-8"
                if (pkg, chapter) == CP1252_PAGE:
                    text = re.sub(r"<meta[^>]*charset[^>]*>", "", body.decode("utf-8"), flags=re.I)
                    body, content_type = text.encode("cp1252", errors="xmlcharrefreplace"), "text/html"
                page(f"{REF_URL}{chapter}.{lang}.html", body, content_type=content_type, kind=f"debian-reference-{lang}")
        page(PY_URL + "library/formatter.html", b"<html><body><h1>Not Found</h1></body></html>",  # gone in 3.10
             status="404 Not Found", kind="404")
        page(PY_URL + "library/imp", b"", status="301 Moved Permanently", content_type="text/html",
             extra=[("Location", PY_URL + "library/imp.html")], kind="redirect")
        page(PY_URL + "_static/pydoctheme.css", read(py_base, "_static/pydoctheme.css"),
             content_type="text/css", kind="stylesheet")
        page(PY_URL + "_static/py.png", read(py_base, "_static/py.png"), content_type="image/png", kind="image")
    print(f"{OUT}: {os.path.getsize(OUT):,} bytes, {sum(counts.values())} responses: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print("packages: " + ", ".join(f"{p} {v}" for p, v in versions.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
