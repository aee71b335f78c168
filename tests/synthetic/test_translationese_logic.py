"""Translationese pure logic: segmentation and reassembly, MT checks, mixing, config validation."""
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipelines.config import ConfigError, config_from_dict
from transforms.synthetic.translationese.checks import MTLimits, translation_problem
from transforms.synthetic.translationese.segment import segment, split_long
from transforms.synthetic.translationese.source import mix_probability, unit_hash


def test_segmentation_keeps_paragraphs_and_unwraps_lines():
    text = "Mr. Smith went to Washington. He said hello.\nThen he\nleft at 5 p.m.\n\n\n  A new paragraph! Is it?  \n"
    seg = segment(text, "en")
    assert seg.paragraphs == (
        ("Mr. Smith went to Washington.", "He said hello.", "Then he left at 5 p.m."),
        ("A new paragraph!", "Is it?"),
    )
    assert seg.reassemble(seg.segments) == (
        "Mr. Smith went to Washington. He said hello. Then he left at 5 p.m.\n\nA new paragraph! Is it?"
    )
    assert seg.reassemble([s.upper() for s in seg.segments]).split("\n\n")[1] == "A NEW PARAGRAPH! IS IT?"
    with pytest.raises(ValueError, match="2 translations for 5 segments"):
        seg.reassemble(["a", "b"])


def test_long_sentences_are_split_at_whitespace():
    sentence = " ".join(["word"] * 300)
    pieces = split_long(sentence, 100)
    assert all(len(p) <= 100 for p in pieces) and " ".join(pieces) == sentence
    assert all(len(s) <= 100 for s in segment(sentence, "en", max_chars=100).segments)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.text(alphabet="abcdefgh XYZ.,!?", min_size=1, max_size=60), min_size=1, max_size=4),
                min_size=1, max_size=5))
@example(paragraphs=[["?", "??"]])  # pysbd drops a trailing "??": segment() must keep it
def test_reassembly_round_trips_the_words_and_paragraph_count(paragraphs):
    text = "\n\n".join("\n".join(lines) for lines in paragraphs)
    seg = segment(text, "en", max_chars=40)
    out = seg.reassemble(seg.segments)
    assert out.split() == text.split()  # no word lost, added or reordered
    blocks, current = [], []
    for line in text.split("\n"):  # a paragraph is a run of lines that are not blank
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    blocks += [current] if current else []
    assert (len(out.split("\n\n")) if out else 0) == len(blocks)


def test_translation_problems_are_named():
    limits = MTLimits(0.5, 2.0, 0.5)
    src = "The cat sat on the mat and looked at the bird."
    assert translation_problem(src, "O gato sentou-se no tapete e olhou para o pássaro.", ("pt", 0.99), "pt", limits) is None
    assert translation_problem(src, "  ", ("pt", 0.9), "pt", limits) == "mt_empty"
    assert translation_problem(src, src.upper(), ("en", 0.9), "pt", limits) == "mt_untranslated"
    assert translation_problem(src, "O gato.", ("pt", 0.9), "pt", limits) == "mt_length_ratio"
    assert translation_problem(src, "o gato " * 40, ("pt", 0.9), "pt", limits) == "mt_length_ratio"
    assert translation_problem(src, "The kitten sat on a rug and watched a bird.", ("en", 0.9), "pt", limits) == "mt_wrong_lang:en"
    assert translation_problem(src, "O gato sentou-se no tapete e olhou o pássaro.", ("pt", 0.3), "pt", limits) == "mt_lang_low_score"


def test_mixing_probability_targets_the_clean_fraction():
    # 90 translated, 10% clean wanted → 10 clean rows from 200 available.
    assert mix_probability("pt", 0.1, {"pt": 90}, {"pt": 200}) == pytest.approx(0.05)
    assert mix_probability("pt", 0.5, {"pt": 90}, {"pt": 10}) == 1.0
    assert mix_probability("pt", 0.1, {"pt": 90}, {}) == 0.0
    chosen = sum(unit_hash(0, "mix", f"doc{i}") < 0.05 for i in range(20000))
    assert 850 < chosen < 1150  # the hash is uniform enough for a Bernoulli sample
    assert unit_hash(1, "mix", "a") == unit_hash(1, "mix", "a") != unit_hash(2, "mix", "a")


def _raw(item):
    return {"input": [item], "output": {"dir": "out"}}


def test_source_configs_are_validated_with_clear_errors(tmp_path):
    cfg = config_from_dict(_raw({"kind": "translationese", "paths": ["x/*.jsonl"]}), str(tmp_path))
    assert cfg.input == [] and cfg.sources[0].label == "translationese"
    assert cfg.sources[0].config.paths == [str(tmp_path / "x" / "*.jsonl")]
    with pytest.raises(ConfigError, match=r"input\[0\]: cannot translate|cannot translate en->de"):
        config_from_dict(_raw({"kind": "translationese", "paths": ["a"], "tgt_langs": ["de"]}), str(tmp_path))
    with pytest.raises(ConfigError, match=r"input\[0\]\.kind = 'poems': unknown source; expected one of"):
        config_from_dict(_raw({"kind": "poems"}), str(tmp_path))
    with pytest.raises(ConfigError, match=r"input\[1\]\.count = -3: Input should be greater than 0"):
        config_from_dict({"input": [{"paths": ["a"]}, {"kind": "tinystories", "count": -3}], "output": {"dir": "o"}},
                         str(tmp_path))
    with pytest.raises(ConfigError, match=r"input\[1\]\.paths: required key is missing"):
        config_from_dict({"input": [{"kind": "tinystories", "count": 2}, {"format": "jsonl"}], "output": {"dir": "o"}},
                         str(tmp_path))
    with pytest.raises(ConfigError, match=r"input\[0\]\.judge\.colour: unknown key"):
        config_from_dict(_raw({"kind": "tinystories", "count": 2, "judge": {"colour": 1}}), str(tmp_path))
    with pytest.raises(ConfigError, match="expected at least one input"):
        config_from_dict({"input": [], "output": {"dir": "o"}}, str(tmp_path))
