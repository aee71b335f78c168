"""FastWARC vs warcio on the same WARC file: records/s reading every response record's payload.

The file is written with warcio from the bundled sample's documents, each wrapped
in an HTML page (``--pages`` of them, gzipped per record as crawlers write
them), or given with ``--warc``. Both readers run twice, alternating, in one
process; the better of each pair is printed with the ratio.

    PYTHONPATH=. python benchmarks/warc_readers.py [--pages 5000] [--warc FILE]
"""
from __future__ import annotations

import argparse
import html
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # sample_corpus (a `benchmarks` package may shadow ours)

from sample_corpus import sample_texts  # noqa: E402


def build(path: Path, pages: int) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    texts = sample_texts()
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for i in range(pages):
            body = (f"<html><head><title>Page {i}</title></head><body><p>"
                    f"{html.escape(texts[i % len(texts)])}</p></body></html>").encode()
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            url = f"https://example.org/{i}"
            writer.write_record(writer.create_warc_record(url, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http))


def read_fastwarc(path: Path) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    n = 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
            record.reader.read()
            record.headers.get("WARC-Record-ID")
            record.http_headers.get("Content-Type")
            n += 1
    return n


def read_warcio(path: Path) -> int:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type != "response":
                continue
            record.content_stream().read()
            record.rec_headers.get_header("WARC-Record-ID")
            record.http_headers.get_header("Content-Type")
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=5000)
    ap.add_argument("--warc", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.warc or Path(tmp) / "sample.warc.gz"
        if args.warc is None:
            build(path, args.pages)
        print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")
        best = {}
        for name, read in [("fastwarc", read_fastwarc), ("warcio", read_warcio)] * 2:
            start = time.perf_counter()
            n = read(path)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
        for name, secs in best.items():
            print(f"{name}: {n:,} response records in {secs:.2f} s = {n / secs:,.0f} records/s")
        print(f"fastwarc / warcio: {best['warcio'] / best['fastwarc']:.1f}x")


if __name__ == "__main__":
    main()
