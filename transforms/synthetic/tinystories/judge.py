"""The optional judge: a model grades a story; its reply is parsed as data, never evaluated.

Where the backend can constrain decoding, the reply is decoded under
``grade_constraint``: five fixed lines (a regular expression) on vLLM, or a
JSON object (a JSON schema) on servers that take only ``response_format``.
Either always parses unless ``max_tokens`` cuts it. Where the judge is not
constrained (``constrained: false``), the parser reads "Grammar: 7",
"grammar - 7/10", "**Plot**: 8 out of 10" and the like with one regular
expression per line, keeps scores in [0, 10], and returns what it found plus
whether all four were there. A reply it cannot read is a result
("unparseable"), not an exception.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from transforms.llm.api import Constraint

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


_SCORE_PATTERN = "(10|[0-9])"
# The five-line reply, exactly as judge_messages asks for it.
GRADE_REGEX = "".join(f"{c.capitalize()}: {_SCORE_PATTERN}\n" for c in CATEGORIES) + f"Age group: [{''.join(AGE_GROUPS)}]"
GRADE_SCHEMA = {
    "type": "object",
    "properties": {**{c: {"type": "integer", "minimum": 0, "maximum": 10} for c in CATEGORIES},
                   "age_group": {"type": "string", "enum": list(AGE_GROUPS)}},
    "required": [*CATEGORIES, "age_group"],
    "additionalProperties": False,
}


def grade_constraint(forms: tuple[str, ...]) -> Constraint | None:
    """The strictest form the backend decodes under: the five lines as a regex, else the JSON schema."""
    if "regex" in forms:
        return Constraint(regex=GRADE_REGEX)
    if "json" in forms:
        return Constraint(json=GRADE_SCHEMA)
    return None


def judge_messages(story: str, as_json: bool = False) -> list[dict]:
    groups = ", ".join(f"{k} ({v})" for k, v in AGE_GROUPS.items())
    if as_json:
        shape = ("Answer with one JSON object with the integer keys grammar, creativity, consistency and plot "
                 f"(each a whole number from 0 to 10) and the key age_group (one letter: {groups}).")
    else:
        shape = ("Answer with exactly these five lines, each score a whole number from 0 to 10:\n"
                 "Grammar: <score>\nCreativity: <score>\nConsistency: <score>\nPlot: <score>\n"
                 f"Age group: <one letter: {groups}>")
    return [{"role": "user", "content": f"Here is a story written for small children:\n\n{story}\n\nGrade it. {shape}"}]


def _grades_from_json(reply: str) -> Grades | None:
    try:
        data = json.loads(reply)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    grades = Grades()
    for category in CATEGORIES:
        value = data.get(category)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 10:
            grades.scores[category] = float(value)
    age = data.get("age_group")
    if isinstance(age, str) and age.upper() in AGE_GROUPS:
        grades.age_group = age.upper()
    return grades


def parse_grades(reply: str) -> Grades:
    """Scores and age group found in ``reply`` (a JSON object, or lines); the first valid score per category wins."""
    grades = Grades()
    if not isinstance(reply, str):
        return grades
    if reply.lstrip().startswith("{"):
        from_json = _grades_from_json(reply.strip())
        if from_json is not None:
            return from_json
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
