"""Build ``sample-eval.jsonl``: a small evaluation set for ``configs/decontaminate.yaml``, from shipped text.

Reading-comprehension style items (``passage``, ``question``, ``answer``), each
naming where its passage comes from:

- 6 passages quoted from the bundled sample (sonnets, a Shakespeare play, the
  Python docs): the corpus holds them, so a decontamination run over the sample
  finds these items (4 quoted verbatim, 2 with their case and line breaks
  changed, which the n-gram match folds away);
- 4 passages from this project's README, which is not in the sample: not found;
- 1 item shorter than 8 words: too short to search, counted as such.

Deterministic: rerun ``.venv/bin/python data/evals/build_sample_eval.py`` (needs ``zstandard``).
"""
from __future__ import annotations

import io
import json
import os

import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "sample")
README = os.path.join(HERE, "..", "..", "README.md")


def jsonl(name: str) -> list[dict]:
    path = os.path.join(SAMPLE, name)
    raw = open(path, "rb").read()
    if name.endswith(".zst"):
        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]


def words_from(text: str, start: int, count: int) -> str:
    return " ".join(text.split()[start:start + count])


def main() -> None:
    sonnets = jsonl("sonnets.jsonl")
    plays = [d for d in jsonl("shakespeare.jsonl.zst") if len(d["text"].split()) > 300]
    docs = [d for d in jsonl("python-docs.jsonl.zst") if len(d["text"].split()) > 400]
    readme = open(README, encoding="utf-8").read()
    paragraphs = [p for p in readme.split("\n\n") if len(p.split()) > 40 and not p.startswith(("|", "```", "    "))]
    items = []
    for i, doc in enumerate([sonnets[3], sonnets[40], plays[5], plays[60], docs[2], docs[30]]):
        passage = "\n".join(doc["text"].splitlines()[:6]) if doc in sonnets else words_from(doc["text"], 200, 60)
        if i in (1, 4):  # the same passage, as a benchmark might format it
            passage = passage.upper().replace("\n", " ")
        items.append({"id": f"sample-{i}", "source": doc.get("url") or doc.get("source"),
                      "passage": passage, "question": "Which work is this passage taken from?",
                      "answer": doc.get("source") or "unknown"})
    for i, paragraph in enumerate(paragraphs[:4]):
        items.append({"id": f"readme-{i}", "source": "corpusmill README.md",
                      "passage": words_from(paragraph, 0, 50), "question": "What does this paragraph describe?",
                      "answer": "corpusmill"})
    items.append({"id": "short-0", "source": "written for this set", "passage": "", "question": "Is it?",
                  "answer": "yes"})
    with open(os.path.join(HERE, "sample-eval.jsonl"), "w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
