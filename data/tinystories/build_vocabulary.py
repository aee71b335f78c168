#!/usr/bin/env python3
"""Build transforms/synthetic/tinystories/vocabulary.json (package data): ~1500 simple English words split into nouns, verbs, adjectives.

Rerun from the repo root (offline; needs the `wordfreq` and `lemminflect` packages):

    python data/tinystories/build_vocabulary.py

Sources (see README.md beside this file for licenses):
- word frequency: wordfreq's English list (`top_n_list`), the most frequent words first;
- part of speech and base forms: lemminflect's lexicon (`getAllLemmas`, `getInflection`);
- function words removed with spaCy's English stop-word list.

There is no offline, redistributable list of words a 3-4-year-old knows, so
"simple" is approximated: very frequent, short, alphabetic, a base form, not
a stop word, and not in EXCLUDE below (adult, abstract, technical or topical
words, reviewed by hand against the output). A word that is several parts of
speech goes to the one its inflections say it is used as most (see
``primary_pos``). Output is deterministic for the same package versions.
"""
from __future__ import annotations

import json
import os

import lemminflect
import wordfreq
from spacy.lang.en.stop_words import STOP_WORDS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "transforms", "tinystories", "vocabulary.json")  # shipped in the package
TARGET = {"noun": 750, "verb": 400, "adjective": 350}
CANDIDATES = 20000
MIN_LEN, MAX_LEN = 3, 7

# Reviewed by hand: words a frequency list ranks high that do not belong in a
# story for small children (adult, violent, abstract, technical, topical, names).
EXCLUDE = set("""
sex sexy shit damn hell fuck porn naked kill dead death die dying drug drugs gun guns war shoot shot murder
rape suicide bloody piss suck screw bitch ass crap whore nude beer wine alcohol smoke weed cocaine
god lord jesus christ church bible holy pray catholic islam muslim jewish
government president policy election vote party political federal national state law court legal tax
economy economic market business company industry finance bank budget profit income credit loan
data online internet video email website software digital app google tweet post media content site
system program process project service management research study analysis report review article
member official director chief board staff client user account license output input upload download
percent million billion rate amount value level total average range period term series version
issue case fact evidence result effect source type form model role policy factor aspect
health medical patient disease cancer virus covid hospital treatment clinic therapy
military army navy police attack weapon enemy terror crime prison arrest trial guilty jail
china india iran iraq russia france japan canada europe america african asian british french german
march april june july august october november december monday sunday
peter harry john james david mike paul mark chris matt tom jack jane sam bob joe dan
global civil mental nuclear urban racial fiscal judicial monetary genetic federal naval martial
virtual viral optical linear dynamic literary cultural critical supreme pacific coastal allied
sir mrs miss dude guy bro lol
kinda gonna wanna yeah okay
accused acid agency anxiety bishop bureau cabinet carbon circuit citizen climate colonel context core crisis
debate debt deputy defence defense fraud funding funds funeral gender gene idiot illness injury justice jury killer
killing lawyer liberal logic mayor penalty physics pope poverty privacy protein protest ratio reform revenue salary
scheme sector senate senator server surgery survey trump troops victim wage welfare witness horror sin smoking
posting forum format edition episode era estate entry phase portion semi sub pro vice ford oxford morgan martin
miller smith jimmy nick jay don duke dean jersey cent centre colour theatre favour labour defence
abuse assault bomb combat conduct debut index retail twitter suspect obtain occur require ensure promote operate
package quote draft file
android anti audio bay capital council counter custom elite epic ethnic fleet formula gay gross hip insane joint
junior lee manual marine mass maximum minimum multi mum net organic premier primary prime prior racist radical rural
senior sexual solar stock summary virgin weekly monthly annual visual drunk illegal violent mini acting facing
passing opening reading fallen fell drawn driven given bound set head corner chance choice proof frank
pussy closet delta dental quantum serial toxic divorce worship sue wont binding intent generic chronic oral facial immune charter lease bias inter mar pan dam
comes coming courses designs games goods grounds letters minutes movies needs things remains means sports folks
""".split())


def primary_pos(word: str, parts: list[str]) -> str:
    """Which of NOUN/VERB/ADJ a base form is mostly used as, judged by its inflections' frequencies.

    A verb shows in past and -ing forms ("walked", "walking"); an adjective
    in comparatives ("redder") or not at all as a plural; a noun in plurals.
    """
    if len(parts) == 1:
        return parts[0]

    def freq(tag: str) -> float:
        forms = lemminflect.getInflection(word, tag)
        return wordfreq.word_frequency(forms[0], "en") if forms and forms[0] != word else 0.0

    base = wordfreq.word_frequency(word, "en") or 1e-12
    scores = {}
    if "VERB" in parts:
        scores["VERB"] = (freq("VBD") + freq("VBG")) / base
    if "NOUN" in parts:
        scores["NOUN"] = 0.15 + freq("NNS") / base  # a mass noun ("milk") has no plural to show
    if "ADJ" in parts:
        scores["ADJ"] = 0.25 + freq("JJR") / base  # a bare adjective has no plural to show
    return max(scores, key=scores.get)


def is_candidate(word: str) -> bool:
    return (
        word.isascii() and word.isalpha() and MIN_LEN <= len(word) <= MAX_LEN
        and word not in STOP_WORDS and word not in EXCLUDE
    )


def build() -> dict[str, list[str]]:
    buckets = {"NOUN": [], "VERB": [], "ADJ": []}
    for word in wordfreq.top_n_list("en", CANDIDATES):
        if not is_candidate(word):
            continue
        lemmas = lemminflect.getAllLemmas(word)
        parts = [p for p in ("NOUN", "VERB", "ADJ") if word in lemmas.get(p, ())]
        if not parts:
            continue
        if "ADJ" in parts and word.endswith(("ed", "ing")) and len(parts) == 1:
            continue  # participles ("used", "missing") are verbs in disguise
        buckets[primary_pos(word, parts)].append(word)
    names = {"NOUN": "noun", "VERB": "verb", "ADJ": "adjective"}
    return {names[p]: sorted(words[: TARGET[names[p]]]) for p, words in buckets.items()}


def main() -> None:
    vocab = build()
    payload = {
        "source": "wordfreq top_n_list('en') x lemminflect part of speech; see README.md",
        "wordfreq_version": wordfreq.__version__ if hasattr(wordfreq, "__version__") else None,
        **vocab,
    }
    with open(OUT, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    print({k: len(v) for k, v in vocab.items()}, "->", OUT)


if __name__ == "__main__":
    main()
