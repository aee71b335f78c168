"""The bundled sample's documents as plain texts (every JSONL file and the text folder), deduplicated
by normalized text, in a stable order: a corpus every benchmark machine has."""
from __future__ import annotations

import gzip
import json
import os

import zstandard

from transforms.core.text_hash import normalized_text_hash

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sample_texts() -> list[str]:
    folder = os.path.join(REPO, "data", "sample")
    texts = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith(".jsonl.zst"):
            raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb")).read()
        elif name.endswith(".jsonl.gz"):
            raw = gzip.open(path).read()
        elif name.endswith(".jsonl"):
            raw = open(path, "rb").read()
        else:
            continue
        for line in raw.splitlines():
            try:
                text = json.loads(line).get("text")
            except (ValueError, AttributeError):
                continue
            if isinstance(text, str) and text.strip():
                texts.append(text)
    for name in sorted(os.listdir(os.path.join(folder, "text"))):
        texts.append(open(os.path.join(folder, "text", name), encoding="utf-8").read())
    unique = {normalized_text_hash(t): t for t in texts}
    return [unique[k] for k in sorted(unique)]
