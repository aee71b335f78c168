"""Real text that is on every Debian machine: the READMEs, NEWS, changelogs and FAQs under /usr/share/doc.

Benchmarks that need more documents than the bundled sample holds read them
from here (nobody on the team wrote them; they are not in the repository).
"""
from __future__ import annotations

import gzip
import os
from typing import Iterator

DOC_ROOT = "/usr/share/doc"
DOC_NAMES = (".txt", ".md", ".rst")
DOC_PREFIXES = ("README", "NEWS", "changelog", "FAQ")


def doc_file_texts(root: str = DOC_ROOT) -> Iterator[tuple[str, str]]:
    """``(path, text)`` of each UTF-8 documentation file (gzipped or not), in walk order."""
    for directory, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            path = os.path.join(directory, f)
            name = f[:-3] if f.endswith(".gz") else f
            if os.path.islink(path) or not (name.endswith(DOC_NAMES) or name.startswith(DOC_PREFIXES)):
                continue
            try:
                raw = gzip.open(path).read() if f.endswith(".gz") else open(path, "rb").read()
                yield path, raw.decode("utf-8")
            except (OSError, UnicodeDecodeError, EOFError):
                continue
