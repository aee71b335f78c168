"""extract_text throughput (docs/s on one core) against datatrove's own Trafilatura step, same pages.

Pages are the bundled sample's documents, each wrapped in an HTML page with a
navigation bar, a header and a footer (boilerplate to remove). Both sides run
in this process on the same list, alternating twice, best of each printed:

- datatrove: ``Trafilatura(include_tables=False).run(documents)``, its executor's step;
- corpusmill: the ``extract_text`` DocProcessor (the same extractor in the same sandbox).

It also counts the pages whose extracted text differs (expected: 0).

    PYTHONPATH=. python benchmarks/extract_text.py [--pages 1000]
"""
from __future__ import annotations

import argparse
import html
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sample_corpus import sample_texts  # noqa: E402

from transforms.web.extract_text import ExtractText, ExtractTextConfig  # noqa: E402


def page(i: int, text: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    return (f"<html><head><title>Page {i}</title></head><body><nav><a href='/'>Home</a> <a href='/a'>About</a>"
            f"</nav><article><h1>Document {i}</h1>{paragraphs}</article>"
            f"<footer>Copyright 2026 Example. All rights reserved.</footer></body></html>")


def run_datatrove(pages: list[str]) -> tuple[float, dict[str, str]]:
    from datatrove.data import Document
    from datatrove.pipeline.extractors import Trafilatura

    step = Trafilatura(include_tables=False)
    start = time.perf_counter()
    out = {d.id: d.text for d in step.run(Document(text=p, id=str(i)) for i, p in enumerate(pages))}
    return time.perf_counter() - start, out


def run_corpusmill(pages: list[str]) -> tuple[float, dict[str, str]]:
    processor = ExtractText("extract_text", ExtractTextConfig())
    start = time.perf_counter()
    out = {}
    for i, p in enumerate(pages):
        outcome = processor.process({"id": str(i), "text": p})
        if hasattr(outcome, "reason") or hasattr(outcome, "error"):
            continue
        out[str(i)] = outcome.doc["text"]
    processor.teardown()
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1000)
    args = ap.parse_args()
    import logging

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    from loguru import logger

    logger.remove()  # datatrove's per-step log lines
    texts = sample_texts()
    pages = [page(i, texts[i % len(texts)]) for i in range(args.pages)]
    best, outputs = {}, {}
    for name, run in [("datatrove", run_datatrove), ("corpusmill", run_corpusmill)] * 2:
        secs, out = run(pages)
        best[name] = min(best.get(name, float("inf")), secs)
        outputs[name] = out
    for name, secs in best.items():
        print(f"{name}: {len(pages):,} pages in {secs:.1f} s = {len(pages) / secs:,.0f} docs/s on one core, "
              f"{len(outputs[name]):,} with text")
    ids = set(outputs["datatrove"]) | set(outputs["corpusmill"])
    differ = sum(outputs["datatrove"].get(i) != outputs["corpusmill"].get(i) for i in ids)
    print(f"corpusmill / datatrove docs/s: {best['datatrove'] / best['corpusmill']:.2f}x; pages whose text differs: {differ}")


if __name__ == "__main__":
    main()
