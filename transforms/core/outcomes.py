"""What a stage decides for one document: kept, dropped (reason) or quarantined (error).

This is the datatrove-filter shape for every stage: a small ``DocProcessor``
subclass decides per document; ``transforms.core.runner.ApplyDocStage`` turns its
decisions into tagged Beam outputs, ledger counts and rejected rows, once, for
all stages.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Sequence, Union

KEPT = "kept"
DROPPED = "dropped"
QUARANTINED = "quarantined"


@dataclass
class Kept:
    doc: dict


@dataclass
class Dropped:
    doc: dict
    reason: str
    kept_id: str | None = None


@dataclass
class Quarantined:
    doc: dict
    error: str
    kept_id: str | None = None  # the document that won a collision (``duplicate_id``)


Outcome = Union[Kept, Dropped, Quarantined]


def add_provenance(doc: dict, stage: str, action: str, **detail: Any) -> None:
    """Append one provenance entry (which stage changed the document, and how)."""
    entry = {
        "stage": stage,
        "action": action,
        "detail": json.dumps(detail, sort_keys=True, ensure_ascii=False, default=str)
        if detail
        else None,
    }
    doc["provenance"] = list(doc.get("provenance") or []) + [entry]


def mark_rejected(outcome: Outcome, stage: str) -> dict:
    """The document of a Dropped/Quarantined outcome, annotated for the rejected sink."""
    doc = dict(outcome.doc)
    if isinstance(outcome, Dropped):
        doc["_reject"] = {
            "stage": stage,
            "outcome": DROPPED,
            "reason": outcome.reason,
            "kept_id": outcome.kept_id,
        }
    else:
        doc["_reject"] = {"stage": stage, "outcome": QUARANTINED, "error": outcome.error,
                          "kept_id": outcome.kept_id}
    return doc


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class DocProcessor:
    """Decide the outcome of one document. Subclass and override ``process``.

    Thresholds are constructor arguments. ``setup`` loads heavy objects (models)
    once per worker process. Model stages that are faster in batches set
    ``batch_size`` > 1 and override ``process_batch``; those that pay per call
    (an LLM engine step) also set ``min_batch_size`` so every call is a full batch.
    Side inputs given to ``ApplyDocStage`` arrive as keyword arguments.
    """

    batch_size: int = 1
    min_batch_size: int = 1

    def setup(self) -> None:
        """Load models or other heavy state; called once per worker process."""

    def teardown(self) -> None:
        """Release what ``setup`` acquired (engine processes, file handles)."""

    def process(self, doc: dict, **side: Any) -> Outcome:
        raise NotImplementedError

    def process_batch(self, docs: Sequence[dict], **side: Any) -> list[Outcome]:
        return [self.process(doc, **side) for doc in docs]


def safe_process_batch(processor: DocProcessor, docs: Sequence[dict], side: dict | None = None) -> Iterable[Outcome]:
    """Run a batch; if it raises, retry each document alone so only the bad one is quarantined."""
    side = side or {}
    try:
        outcomes = processor.process_batch(docs, **side)
        if len(outcomes) != len(docs):
            raise RuntimeError(
                f"{type(processor).__name__} returned {len(outcomes)} outcomes for {len(docs)} documents"
            )
        return outcomes
    except Exception:  # noqa: BLE001 - isolate the failing document below
        return [_safe_single(processor, doc, side) for doc in docs]


def _safe_single(processor: DocProcessor, doc: dict, side: dict) -> Outcome:
    try:
        outcomes = processor.process_batch([doc], **side)
        if len(outcomes) != 1:
            raise RuntimeError(f"expected 1 outcome, got {len(outcomes)}")
        return outcomes[0]
    except Exception as exc:  # noqa: BLE001 - a processing error quarantines the document
        return Quarantined(doc, describe_error(exc))
