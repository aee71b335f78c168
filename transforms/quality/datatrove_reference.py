"""datatrove's own LocalPipelineExecutor over in-memory documents: the reference our stages must agree with.

Used by the agreement test and the benchmark. Language ID uses datatrove's
``LanguageFilter`` with the same fastText file loaded by path (datatrove would
otherwise download lid.176.bin).
"""
from __future__ import annotations

import tempfile
from typing import Any, Sequence

from transforms.quality.heuristic_filters import build_filters


def datatrove_chain(languages: Sequence[str] | None, min_score: float, lid_model_path: str | None,
                    filters: dict[str, dict[str, Any]], language: str = "en") -> list:
    steps = []
    if lid_model_path is not None:
        from datatrove.pipeline.filters import LanguageFilter

        lid = LanguageFilter(languages=list(languages) or None, language_threshold=min_score)
        lid.model = _local_lid(lid_model_path, lid.languages)
        steps.append(("language_id", lid))
    steps.extend(build_filters(filters, language))
    return steps


def run_datatrove(texts: Sequence[tuple[str, str]], steps: list, record: bool = True,
                  reader: Any = None) -> dict[str, tuple]:
    """Run ``steps`` with LocalPipelineExecutor (1 task, 1 worker, in process).

    The documents are ``texts`` (``(id, text)`` pairs), or what ``reader`` (a
    datatrove reader step, e.g. ``JsonlReader``) reads when given.

    Returns ``{id: (outcome, reason_or_final_text, language, language_score)}``
    when ``record``: outcome is "kept" (with the final text) or "dropped" (with
    ``<step>:<reason>`` from datatrove's exclusion mechanism, the
    ``filter_reason`` BaseFilter puts on excluded documents); the language
    fields are what datatrove's LanguageFilter wrote into the metadata.
    """
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.writers.disk_base import DiskWriter

    results: dict[str, tuple] = {}

    class _Record(DiskWriter):  # an exclusion "writer" that keeps reasons in memory
        default_output_filename = "x"

        def __init__(self, key):
            super().__init__(tempfile.mkdtemp(prefix="dt-excl-"))
            self.key = key

        def write(self, document, rank=0, **kwargs):
            reason = f"{self.key}:{document.metadata.get('filter_reason') or 'filtered'}"
            results[document.id] = ("dropped", reason) + _lang(document)

        def _write(self, document, file_handler, filename):  # never reached: write() is overridden
            raise NotImplementedError

        def close(self):
            pass

    pipeline: list = [reader if reader is not None else [Document(text=t, id=i) for i, t in texts]]
    for key, step in steps:
        if record:
            step.exclusion_writer = _Record(key)
        pipeline.append(step)

    def collect(data, rank=0, world_size=1):
        for doc in data:
            if record:
                results[doc.id] = ("kept", doc.text) + _lang(doc)
            yield doc

    pipeline.append(collect)
    with tempfile.TemporaryDirectory(prefix="dt-logs-") as logs:
        LocalPipelineExecutor(pipeline, tasks=1, workers=1, logging_dir=logs, skip_completed=False).run()
    return results


def _lang(doc) -> tuple:
    return doc.metadata.get("language"), doc.metadata.get("language_score")


def _local_lid(path: str, languages):
    """datatrove's FastTextLID (its predict) with the model file loaded by path, lazily (survives deepcopy)."""
    from datatrove.utils.lid import FastTextLID

    class LocalFastTextLID(FastTextLID):
        @property
        def model(self):
            if self._model is None:
                from fasttext.FastText import _FastText

                self._model = _FastText(model_path=path)
            return self._model

    return LocalFastTextLID(languages)
