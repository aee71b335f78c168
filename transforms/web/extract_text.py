"""The ``extract_text`` stage: a document's HTML → its main text (trafilatura, or resiliparse).

The extraction itself is datatrove's: its ``Trafilatura`` extractor (so the
settings, and the decisions, are FineWeb's) run inside its ``ExtractorSandbox``,
a child process that enforces the per-document timeout and survives an
extractor that hangs or dies (it is restarted); ``_sandbox`` says what we change. Outcomes: the text replaces
the HTML (provenance records the extractor and the sizes); an empty extraction
is dropped ``extract_empty``; a timeout, a crashed extractor or an extractor
error is quarantined with the error.

Defaults are datatrove's ``Trafilatura()``: ``favour_precision``, no comments,
``deduplicate``, a 1 s timeout; tables are left out unless ``include_tables``
(trafilatura's own default keeps them, and datatrove passes it through).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from transforms.core.outcomes import DocProcessor, Dropped, Kept, Outcome, Quarantined, add_provenance


class ExtractTextConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    extractor: Literal["trafilatura", "resiliparse"] = "trafilatura"
    timeout_s: float = Field(1.0, gt=0, description="per document; a slower one is quarantined extract_timeout")
    favour_precision: bool = Field(True, description="trafilatura: less text, more of it main content")
    include_tables: bool = False
    deduplicate: bool = Field(True, description="trafilatura: drop repeated segments within the page")


class ResiliparseExtractor:
    """Resiliparse's main-content extraction, with the same ``extract(html) -> str`` shape as datatrove's."""

    def __init__(self, include_tables: bool):
        self.include_tables = include_tables

    def extract(self, html: str) -> str:
        from resiliparse.extract.html2text import extract_plain_text

        skip = () if self.include_tables else ("table",)
        return extract_plain_text(html, main_content=True, skip_elements=skip or None)


def make_extractor(cfg: ExtractTextConfig):
    if cfg.extractor == "resiliparse":
        return ResiliparseExtractor(cfg.include_tables)
    from datatrove.pipeline.extractors import Trafilatura

    return Trafilatura(favour_precision=cfg.favour_precision, timeout=cfg.timeout_s, deduplicate=cfg.deduplicate,
                       include_tables=cfg.include_tables)


_START_ALLOWANCE_S = 60.0


def _sandbox_worker(conn, extract_fn, warmup_text):
    """datatrove's ``ExtractorSandbox._worker`` loop, as a module function so a forkserver child can
    run it; SIGTERM back to the default (the CLI turns it into KeyboardInterrupt, which would print a
    traceback each time the sandbox stops a child) and Ctrl-C left to the parent."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    extract_fn(warmup_text)
    conn.send(None)
    while True:
        try:
            text = conn.recv()
        except EOFError:
            break
        try:
            conn.send(extract_fn(text))
        except Exception as exc:  # noqa: BLE001 - sent back and raised per document, as datatrove does
            conn.send(exc)


def _sandbox(timeout_s: float):
    """datatrove's ExtractorSandbox (per-document timeout in a child process, restarted after a hang or
    crash), changed where a Beam worker needs it:

    - the child comes from a forkserver, not a fork of the worker: a Beam worker runs gRPC threads,
      and forking it makes gRPC print "skipping fork() handlers" on stderr at every start;
    - starting the child has its own allowance (``_START_ALLOWANCE_S``); datatrove counts the start
      against the first document's timeout, so on a busy machine a document that never ran was a timeout;
    - closing it logs nothing (datatrove logs through loguru to stderr).
    """
    import multiprocessing

    from datatrove.pipeline.extractors.base import ExtractorSandbox

    context = multiprocessing.get_context("forkserver")

    class Sandbox(ExtractorSandbox):
        def _ensure_process(self, extract_fn):
            if self.process is not None and self.process.is_alive():
                return
            if self.process is not None:
                self._cleanup_process()
            self.parent_conn, self.child_conn = context.Pipe()
            self.process = context.Process(target=_sandbox_worker, daemon=True,
                                           args=(self.child_conn, extract_fn, self.warmup_text))
            self.process.start()
            self.all_processes.append(self.process)
            if self.parent_conn.poll(_START_ALLOWANCE_S):
                self.parent_conn.recv()
            else:
                self._cleanup_process()
                raise EOFError(f"the extractor process did not start within {_START_ALLOWANCE_S:g} s")

        def close(self) -> None:
            self._cleanup_process()
            for proc in self.all_processes:
                if proc.is_alive():
                    proc.kill()
                proc.join(timeout=5)
            self.all_processes = []

    return Sandbox(timeout=timeout_s, warmup_text="")


class ExtractText(DocProcessor):
    def __init__(self, label: str, cfg: ExtractTextConfig):
        self.label = label
        self.cfg = cfg
        self._extractor = self._sandbox = None

    def setup(self) -> None:
        self._extractor = make_extractor(self.cfg)
        self._sandbox = _sandbox(self.cfg.timeout_s)

    def teardown(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def process(self, doc: dict) -> Outcome:
        if self._sandbox is None:
            self.setup()
        html = doc["text"]
        try:
            text = self._sandbox.process_document(html, self._extractor.extract)
        except TimeoutError:
            return Quarantined(doc, f"extract_timeout: over {self.cfg.timeout_s:g} s")
        except EOFError as exc:
            return Quarantined(doc, f"extract_crashed: {exc}")
        except Exception as exc:  # noqa: BLE001 - the extractor's own error, per document
            return Quarantined(doc, f"extract_error: {type(exc).__name__}: {exc}")
        if not text or not text.strip():
            return Dropped(doc, "extract_empty")
        doc["text"] = text
        add_provenance(doc, self.label, "extracted", extractor=self.cfg.extractor, html_chars=len(html),
                       text_chars=len(text))
        return Kept(doc)
