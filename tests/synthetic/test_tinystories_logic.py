"""TinyStories pure logic: vocabulary, prompt builder, story checks, judge parser, instruct format."""
import collections
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.synthetic.tinystories.candidates import (
    Candidate,
    best_graded,
    first_passing,
    representative_failure,
)
from transforms.synthetic.tinystories.checks import (
    CHECKS,
    StoryLimits,
    drop_reason,
    echoes_prompt,
    is_refusal,
    missing_words,
    story_checks,
    word_forms,
)
from transforms.synthetic.tinystories.instruct import instruct_text
from transforms.synthetic.tinystories.judge import (
    AGE_GROUPS,
    CATEGORIES,
    GRADE_REGEX,
    GRADE_SCHEMA,
    grade_constraint,
    parse_grades,
)
from transforms.synthetic.tinystories.prompts import (
    FEATURES,
    Instruction,
    TriplePermutation,
    build_instructions,
    stop_strings,
    story_request,
)
from transforms.synthetic.tinystories.vocabulary import Vocabulary, load_vocabulary
from transforms.synthetic.tinystories.word_bias import word_bias


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


def test_vocabulary_is_1500_distinct_base_forms_in_three_parts(vocab):
    assert (len(vocab.nouns), len(vocab.verbs), len(vocab.adjectives)) == (750, 400, 350)
    words = vocab.nouns + vocab.verbs + vocab.adjectives
    assert len(set(words)) == 1500
    assert all(re.fullmatch(r"[a-z]{3,7}", w) for w in words)


def test_bad_vocabulary_file_is_a_clear_error(tmp_path):
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"noun": ["cat"], "verb": [], "adjective": ["big"]}))
    with pytest.raises(ValueError, match="'verb' must be a non-empty list"):
        load_vocabulary(path)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000, 4097])
def test_triple_permutation_is_a_bijection(n):
    perm = TriplePermutation(n, seed=3)
    assert sorted(perm(i) for i in range(n)) == list(range(n))


def test_prompts_are_deterministic_sliceable_and_never_repeat_a_triple(vocab):
    run = build_instructions(vocab, seed=7, start=0, stop=3000)
    assert run == build_instructions(vocab, seed=7, start=0, stop=3000)
    # Any slice (another worker's shard) gives exactly the same prompts.
    assert build_instructions(vocab, 7, 1200, 1300) == run[1200:1300]
    triples = {(i.verb, i.noun, i.adjective) for i in run}
    assert len(triples) == len(run)
    assert build_instructions(vocab, 8, 0, 50) != run[:50]


def test_no_repeat_even_when_the_run_uses_every_triple():
    tiny = Vocabulary(("run", "eat"), ("cat", "dog", "box"), ("big", "red"))
    run = build_instructions(tiny, seed=1, start=0, stop=tiny.triples)
    assert len({(i.verb, i.noun, i.adjective) for i in run}) == 12
    with pytest.raises(ValueError, match="only 12 distinct triples"):
        build_instructions(tiny, 1, 0, 13)


def test_words_are_drawn_uniformly_and_feature_subsets_vary(vocab):
    run = build_instructions(vocab, seed=0, start=0, stop=8000)
    verbs = collections.Counter(i.verb for i in run)
    # 8000 draws over 400 verbs: 20 expected each; a uniform draw keeps every count well inside [3, 45].
    assert len(verbs) > 390 and max(verbs.values()) < 45
    sizes = collections.Counter(len(i.features) for i in run)
    assert sizes[0] > 0 and sizes[6] > 0  # empty and full subsets both occur
    per_feature = collections.Counter(f for i in run for f in i.features)
    assert all(3600 < per_feature[f] < 4400 for f in FEATURES)  # each feature about half the time


def test_prompt_names_the_three_words_and_the_features():
    ins = Instruction(0, "jump", "apple", "happy", ("Dialogue", "Bad ending"))
    text = story_request(ins)
    assert '"jump"' in text and '"apple"' in text and '"happy"' in text
    assert "talk to each other" in text and "sad or unhappy" in text
    assert "(3-5 paragraphs)" in text
    # the words again at the end, where a small model still reads them, and the stop string last
    assert text.endswith('Remember to use the words "jump", "apple" and "happy", and only simple words. '
                         'Keep it under 150 words and end with "The end."')
    assert stop_strings("The end.") == ("The end", "The End", "THE END") and stop_strings(None) is None
    assert "The end" not in story_request(ins, end_marker=None)


def test_required_words_accept_inflections_from_the_lemmatizer():
    ins = Instruction(0, "run", "mouse", "happy", ())
    assert missing_words("The mice ran home. She was happier than ever.", ins) == []
    assert missing_words("Running, the mouse felt happiest.", ins) == []
    assert missing_words("The cat sat on a big mat.", ins) == ["verb:run", "noun:mouse", "adjective:happy"]
    assert missing_words("Two mouses were happy runners.", ins) == ["verb:run", "noun:mouse"]
    assert {"went", "goes", "going", "gone"} <= word_forms("go", "verb")
    regular = Instruction(0, "jump", "box", "big", ())
    assert missing_words("The boxes were bigger. He jumped.", regular) == []
    assert missing_words("Jumping over a box, the big dog smiled.", regular) == []
    # substring luck is not enough: "jumper" is a noun, "boxer" another word, "bigot" unrelated
    assert missing_words("A jumper, a boxer and a bigot met.", regular) == ["verb:jump", "noun:box", "adjective:big"]


def test_refusal_echo_and_length_checks():
    assert is_refusal("I'm sorry, but I can't write that story.")
    assert is_refusal("As an AI language model, I cannot do this.")
    assert not is_refusal("Sorry was the name of the cat. It ran away.")
    prompt = "Write a short story for a three-year-old child, in 3 to 5 short paragraphs."
    assert echoes_prompt("Sure! Write a short story for a three-year-old child, in 3 to 5 paragraphs", prompt)
    assert not echoes_prompt("Once upon a time a child wrote a short story.", prompt)


def _story(words: int) -> str:
    base = "Tom ran to the big red box. The mouse was happy. "
    return " ".join((base * (words // 10 + 1)).split()[:words])


def test_drop_reasons_follow_the_check_order():
    ins = Instruction(0, "run", "mouse", "happy", ())
    limits = StoryLimits(min_words=20, max_words=100)
    prompt = story_request(ins)

    def reason(text, finish="stop", lang=("en", 0.9)):
        checks = story_checks(text, finish, ins, prompt, limits, lang, 0.65)
        return drop_reason(checks, text, ins, limits, lang)

    assert reason(_story(50)) is None
    assert reason("   ") == "empty_output"
    assert reason("I cannot write stories. " + _story(40)) == "refusal"
    assert reason(_story(50), finish="length") == "truncated"
    assert reason(prompt + " " + _story(40)) == "prompt_echo"
    assert reason(_story(10)) == "too_short"
    assert reason(_story(150)) == "too_long"
    assert reason("Tom sat on the big red box all day long. " * 4) == "missing_word:verb,noun,adjective"
    assert reason(_story(50), lang=("de", 0.9)) == "lang:de"
    assert reason(_story(50), lang=("en", 0.3)) == "lang_low_score"


def test_judge_parser_reads_common_reply_shapes():
    reply = "**Grammar**: 8/10\nCreativity - 6 out of 10\nconsistency: 7\nPlot: 5.5\nAge group: B"
    grades = parse_grades(reply)
    assert grades.scores == {"grammar": 8.0, "creativity": 6.0, "consistency": 7.0, "plot": 5.5}
    assert grades.age_group == "B" and grades.complete and grades.mean == pytest.approx(6.625)
    partial = parse_grades("Grammar: 9. The plot is fun! Creativity: 42")
    assert partial.scores == {"grammar": 9.0} and not partial.complete and partial.mean is None
    assert not parse_grades("").complete and parse_grades(None).scores == {}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_judge_parser_never_raises_and_keeps_scores_in_range(reply):
    grades = parse_grades(reply)
    assert set(grades.scores) <= set(CATEGORIES)
    assert all(0 <= v <= 10 for v in grades.scores.values())
    assert grades.age_group in (None, "A", "B", "C", "D", "E", "F")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(CATEGORIES), min_size=4, max_size=4, unique=True),
       st.lists(st.integers(0, 10), min_size=4, max_size=4), st.sampled_from(["\n", "; ", " | "]))
def test_judge_parser_reads_any_order_and_separator(order, values, sep):
    reply = sep.join(f"{c.title()}: {v}" for c, v in zip(order, values))
    assert parse_grades(reply).scores == {c: float(v) for c, v in zip(order, values)}


def _candidate(index, failed=None, reason=None):
    checks = {name: name != failed for name in CHECKS}
    return Candidate(index, f"story {index}", ("en", 0.9), checks, reason if failed else None, "stop", 100)


def test_first_passing_candidate_is_kept_without_a_judge():
    cands = [_candidate(0, "not_truncated", "truncated"), _candidate(1), _candidate(2)]
    assert first_passing(cands).index == 1
    assert first_passing(cands[:1]) is None


def test_best_graded_candidate_wins_and_ties_go_to_the_earlier_one():
    a, b, c = _candidate(0), _candidate(1), _candidate(2)
    assert best_graded([(a, 5.0), (b, 7.5), (c, 7.5)])[0] is b
    assert best_graded([(a, None), (b, 3.0)])[0] is b  # a reply that did not parse never beats one that did
    assert best_graded([(a, None), (b, None)])[0] is a
    assert best_graded([]) is None


def test_a_dropped_prompt_names_its_most_frequent_failed_check():
    cands = [_candidate(0, "not_truncated", "truncated"),
             _candidate(1, "required_words", "missing_word:verb"),
             _candidate(2, "required_words", "missing_word:noun"),
             _candidate(3, "length", "too_short")]
    shown = representative_failure(cands)
    assert shown.index == 1 and shown.reason == "missing_word:verb"
    # a tie goes to the check applied first
    tie = [_candidate(0, "required_words", "missing_word:verb"), _candidate(1, "not_truncated", "truncated")]
    assert representative_failure(tie).reason == "truncated"
    assert [c.attempt()["rejected"] for c in cands] == ["truncated", "missing_word:verb", "missing_word:noun",
                                                        "too_short"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=4, max_size=4), st.sampled_from(sorted(AGE_GROUPS)))
def test_every_reply_the_grade_regex_allows_parses_completely(values, age):
    reply = "".join(f"{c.capitalize()}: {v}\n" for c, v in zip(CATEGORIES, values)) + f"Age group: {age}"
    assert re.fullmatch(GRADE_REGEX, reply)
    grades = parse_grades(reply)
    assert grades.complete and grades.scores == {c: float(v) for c, v in zip(CATEGORIES, values)}
    assert grades.age_group == age
    as_json = json.dumps({**dict(zip(CATEGORIES, values)), "age_group": age})
    assert parse_grades(as_json).scores == grades.scores and parse_grades(as_json).age_group == age
    assert not re.fullmatch(GRADE_REGEX, reply.replace(f"Plot: {values[3]}", "Plot: 11"))


def test_grade_constraint_is_the_strictest_form_the_backend_takes():
    assert grade_constraint(("grammar", "regex", "choice", "json")).regex == GRADE_REGEX
    assert grade_constraint(("json",)).json == GRADE_SCHEMA
    assert grade_constraint(()) is None
    # out-of-range or non-numeric JSON values are not grades
    bad = parse_grades('{"grammar": 12, "creativity": "7", "consistency": true, "plot": 4, "age_group": "Z"}')
    assert bad.scores == {"plot": 4.0} and bad.age_group is None and not bad.complete


def test_word_bias_covers_one_token_forms_of_the_three_words_only():
    from transformers import AutoTokenizer

    from transforms.llm.models import prepare_tokenizer

    tok = AutoTokenizer.from_pretrained(str(prepare_tokenizer()))

    def tokenize(text):
        return tok.encode(text, add_special_tokens=False)

    ins = Instruction(0, "run", "mouse", "happy", ())
    bias = dict(word_bias(ins, tokenize, 4.0))
    assert set(bias.values()) == {4.0}
    for spelled in (" run", " ran", " running", " Run", " mouse", " mice", " happy", " Happy"):
        [token] = tokenize(spelled)
        assert token in bias, spelled
    assert tokenize(" cat")[0] not in bias
    # a form that splits into pieces is not biased: its first piece would start unrelated words
    multi = Instruction(0, "run", "mouse", "unhappiest", ())
    assert all(len(tokenize(" " + f)) == 1 or tokenize(" " + f)[0] not in dict(word_bias(multi, tokenize, 2.0))
               for f in word_forms("unhappiest", "adjective"))
    assert word_bias(ins, tokenize, 0.0) is None


def test_instruct_format_ends_with_the_story_and_is_seeded():
    texts = {instruct_text("Once upon a time.", ["run", "cat", "big"], ["Dialogue"], "A cat runs.", 0, i)
             for i in range(40)}
    assert all(t.split("\n")[-1] == "Story: Once upon a time." for t in texts)
    heads = {tuple(line.split(":")[0] for line in t.split("\n")[:-1]) for t in texts}
    assert () in heads and any(len(h) == 3 for h in heads) and len(heads) > 5  # random subsets and orders
    assert instruct_text("S.", ["a"], [], None, 1, 2) == instruct_text("S.", ["a"], [], None, 1, 2)
    assert all("Summary" not in t for t in (instruct_text("S.", ["a"], ["Conflict"], None, 0, i) for i in range(20)))
