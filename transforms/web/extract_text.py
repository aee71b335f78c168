"""The ``extract_text`` stage: a document's HTML → its main text (trafilatura, or resiliparse).

The extraction itself is datatrove's: its ``Trafilatura`` extractor (so the
settings, and the decisions, are FineWeb's) run inside its ``ExtractorSandbox``,
a child process that enforces the per-document timeout and survives an
extractor that hangs or dies (it is restarted). Outcomes: the text replaces
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


def _sandbox(timeout_s: float):
    """datatrove's ExtractorSandbox, with two changes for a corpusmill worker: its child resets SIGTERM to
    the default (it is forked, and the CLI turns SIGTERM into KeyboardInterrupt, which would print a
    traceback each time the sandbox stops a child), and closing it logs nothing (datatrove logs through
    loguru to stderr)."""
    import signal

    from datatrove.pipeline.extractors.base import ExtractorSandbox

    class Sandbox(ExtractorSandbox):
        def _worker(self, conn, extract_fn):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the run; the run stops this child
            super()._worker(conn, extract_fn)

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
