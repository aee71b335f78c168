"""The optional judge: a model grades a story; its reply is parsed as data, never evaluated.

The parser reads "Grammar: 7", "grammar - 7/10", "**Plot**: 8 out of 10" and
the like with one regular expression per line, keeps scores in [0, 10], and
returns what it found plus whether all four were there. A reply it cannot
read is a result ("unparseable"), not an exception.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

CATEGORIES = ("grammar", "creativity", "consistency", "plot")
AGE_GROUPS = {
    "A": "3 or under",
    "B": "4-5",
    "C": "6-7",
    "D": "8-9",
    "E": "10-12",
    "F": "13-16",
}

_SCORE = re.compile(
    r"\b(grammar|creativity|consistency|plot)\b[^0-9\n]{0,20}?(\d{1,2}(?:\.\d+)?)(?:\s*(?:/|out of)\s*10)?",
    re.IGNORECASE,
)
_AGE = re.compile(r"\bage\s*group\b[^A-Za-z0-9\n]{0,10}(?:group\s*)?([A-F])\b", re.IGNORECASE)


@dataclass
class Grades:
    scores: dict[str, float] = field(default_factory=dict)
    age_group: str | None = None

    @property
    def complete(self) -> bool:
        return all(c in self.scores for c in CATEGORIES)

    @property
    def mean(self) -> float | None:
        return sum(self.scores[c] for c in CATEGORIES) / len(CATEGORIES) if self.complete else None


def judge_messages(story: str) -> list[dict]:
    groups = ", ".join(f"{k} ({v})" for k, v in AGE_GROUPS.items())
    return [{
        "role": "user",
        "content": (
            "Here is a story written for small children:\n\n"
            f"{story}\n\n"
            "Grade it. Answer with exactly these five lines, each score a whole number from 0 to 10:\n"
            "Grammar: <score>\nCreativity: <score>\nConsistency: <score>\nPlot: <score>\n"
            f"Age group: <one letter: {groups}>"
        ),
    }]


def parse_grades(reply: str) -> Grades:
    """Scores and age group found in ``reply``; the first valid score per category wins."""
    grades = Grades()
    if not isinstance(reply, str):
        return grades
    for match in _SCORE.finditer(reply):
        category = match.group(1).lower()
        if category in grades.scores:
            continue
        try:
            value = float(match.group(2))
        except ValueError:
            continue
        if 0.0 <= value <= 10.0:
            grades.scores[category] = value
    age = _AGE.search(reply)
    if age:
        grades.age_group = age.group(1).upper()
    return grades
