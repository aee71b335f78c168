"""Over-generation: n candidate stories per prompt, every check on each, one kept or the prompt dropped.

A small model rarely writes a story that ends on time and uses all three
words, but among a few samples of the same prompt one often does. The rules:

- without a judge, the first candidate (in sampling order) that passes every
  check is kept;
- with a judge, every passing candidate is graded and the best mean grade is
  kept (the earliest on a tie; ungraded candidates only when none parsed);
- when no candidate passes, the prompt is dropped with the check that failed
  most often among its candidates as the reason (ties: the earlier check in
  ``CHECKS``), and the rejected row shows the first candidate that failed it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from transforms.synthetic.tinystories.checks import CHECKS


@dataclass
class Candidate:
    index: int  # position among the prompt's samples
    text: str
    lang: tuple[str, float] | None
    checks: dict[str, bool]
    reason: str | None  # drop reason of its first failed check; None: passed every check
    finish_reason: str | None
    completion_tokens: int

    @property
    def passed(self) -> bool:
        return self.reason is None

    @property
    def failed_check(self) -> str | None:
        return next((name for name in CHECKS if not self.checks[name]), None)

    def attempt(self) -> dict:
        """Its provenance entry: how it ended and, when rejected, the check it failed."""
        return {"candidate": self.index, "finish_reason": self.finish_reason,
                "completion_tokens": self.completion_tokens, "rejected": self.reason}


def first_passing(candidates: list[Candidate]) -> Candidate | None:
    return next((c for c in candidates if c.passed), None)


def best_graded(graded: list[tuple[Candidate, float | None]]) -> tuple[Candidate, float | None] | None:
    """The passing candidate with the highest mean grade (earliest on ties); if none parsed, the first one."""
    if not graded:
        return None
    parsed = [(c, m) for c, m in graded if m is not None]
    if not parsed:
        return graded[0]
    return max(parsed, key=lambda cm: (cm[1], -cm[0].index))


def representative_failure(candidates: list[Candidate]) -> Candidate:
    """The candidate whose failure names the dropped prompt: the most frequent failed check (ties: the
    earlier check in ``CHECKS``), then the first candidate that failed it."""
    counts = Counter(c.failed_check for c in candidates)
    check = min(counts, key=lambda name: (-counts[name], CHECKS.index(name)))
    return next(c for c in candidates if c.failed_check == check)
