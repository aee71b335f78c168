"""Prompts (``[000]line``, greedy token chunks) and the rule-based program writer."""
from transforms.prox.executor import run_chunk_program
from transforms.prox.prompts import chunk_texts, numbered_lines
from transforms.prox.rules import RuleConfig, boilerplate_flags, line_key, write_chunk_program


def words(text):
    return text.split()


def test_numbered_lines_widen_past_999():
    lines = numbered_lines("\n".join(["x"] * 1001))
    assert lines[0] == "[000]x" and lines[999] == "[999]x" and lines[1000] == "[1000]x"


def test_chunks_are_greedy_bounded_and_cover_every_line():
    text = "\n".join(f"word{i} " * (i % 7 + 1) for i in range(60))
    chunks = chunk_texts(text, words, max_tokens=20)
    for c in chunks:
        assert c.startswith("[doc]\n") and c.endswith("\n[/doc]")
        body = c[len("[doc]\n"):-len("\n[/doc]")].split("\n")
        assert sum(len(words(line + "\n")) for line in body) <= 20 or len(body) == 1
    numbers = [line[1:4] for c in chunks for line in c.split("\n")[1:-1]]
    assert numbers == [f"{i:03d}" for i in range(60)]
    # greedy: each chunk could not take the next chunk's first line
    assert len(chunks) == len(chunk_texts(text, words, max_tokens=20))


def test_chunks_with_the_real_smollm2_tokenizer():
    from transformers import AutoTokenizer

    from transforms.llm.models import prepare_model

    tok = AutoTokenizer.from_pretrained(str(prepare_model()))
    encode = lambda s: tok.encode(s, add_special_tokens=False)  # noqa: E731
    text = "\n".join(f"Sentence number {i} talks about kettles, rain and tin roofs." for i in range(400))
    chunks = chunk_texts(text, encode, max_tokens=1500)
    assert len(chunks) > 1
    assert all(len(encode(c)) <= 1500 + 10 for c in chunks)  # + the [doc] wrapper


PAGE = """Kettles — Example docs
Table of Contents
Kettles
Boiling
Previous topic
Pots
Home »
Kitchen »
Kettles are vessels for boiling water; this page explains how they work in some detail.
Boiling¶
A kettle heats water until it boils, then switches off, which saves a lot of energy over time.
We use cookies to improve your experience. Accept all cookies
Share on Twitter
© Copyright 2001-2026, Example Foundation.
Last updated on October 07, 2026."""


def test_rules_remove_navigation_banners_footers_keep_content():
    program = write_chunk_program(PAGE)
    res = run_chunk_program(PAGE, program)
    assert res.errors == [] and res.applied
    assert res.text.split("\n") == [
        "Kettles are vessels for boiling water; this page explains how they work in some detail.",
        "Boiling",
        "A kettle heats water until it boils, then switches off, which saves a lot of energy over time.",
    ]


def test_copyright_lines_of_a_license_file_stay():
    text = "\n".join(["Files: *", "Copyright: 2001 Jane Doe", "© 2003 John Roe"] +
                     [f"License text line {i} with enough words to be a real paragraph of text." for i in range(30)])
    assert not any(boilerplate_flags(text.split("\n"))[:3])


def test_repeated_lines_from_the_source_are_removed_in_blocks_or_when_long():
    intro = "Intro paragraph that is long enough to be content for sure, really."
    outro = "More content words here, long enough to be a real closing paragraph of the page."
    text = f"{intro}\nVisit our shop\nOpen daily\n{outro}"
    assert "remove_lines" not in write_chunk_program(text)
    both = frozenset({line_key("visit  OUR shop"), line_key("Open daily")})
    assert "remove_lines(line_start=1, line_end=2)" in write_chunk_program(text, both)
    # a short repeated line alone among unique lines is recurring content, like a play's [Exeunt.]
    assert "remove_lines" not in write_chunk_program(text, frozenset({line_key("Visit our shop")}))
    long_line = "Example Inc. is a registered trademark of Example Holdings"
    text = f"{intro}\n{long_line}\n{outro}"
    assert "remove_lines(line_start=1, line_end=1)" in write_chunk_program(text, frozenset({line_key(long_line)}))


def test_short_run_bound_counts_text_lines_not_blank_ones():
    """A sidebar table of contents rendered with blank lines between entries is absorbed whole."""
    toc = [f"Section {i}" for i in range(60)]
    body = "A real paragraph of words that says something worth keeping about kettles and rain."
    text = "\n\n".join([body, body, "Table of Contents", *toc, "Previous topic", "Kettles"])
    lines = text.split("\n")
    flags = boilerplate_flags(lines)
    assert [lines[i] for i, f in enumerate(flags) if f and lines[i].strip()] == ["Table of Contents", *toc,
                                                                                "Previous topic", "Kettles"]
    assert not any(boilerplate_flags(lines, cfg=RuleConfig(max_short_run=59))[6:6 + 2 * 60])
