"""ProX prompts: the document-level view and the chunk-level ``[000]line`` view.

Token counts use the refining model's own tokenizer (passed in as a
``tokenize`` callable, e.g. ``GenerationBackend.tokenize``), because the
limits (2000 tokens per document, 1500 per chunk) are the model's context
budget, not a word count.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

Tokenize = Callable[[str], Sequence[int]]

DOC_TOKENS = 2000
CHUNK_TOKENS = 1500

# SmolLM2 is not a trained refiner: for the demo it gets an instruction and one
# example per level. The gair-prox refining models take the bare text.
DOC_INSTRUCTION = (
    "You judge web documents for a pretraining corpus. Reply with exactly one call: "
    "drop_doc() if the document is spam, an index page, navigation only or otherwise useless; "
    "keep_doc() otherwise.\n\nExample document:\nHome | About | Login\nBuy cheap pills now!!!\n"
    "Example answer:\ndrop_doc()\n\nDocument:\n"
)
CHUNK_INSTRUCTION = (
    "Each line of the document below starts with its number in brackets. Write a program that "
    "cleans it, one call per line, using only:\n"
    "remove_lines(line_start=N, line_end=M)  # delete navigation, menus, banners, footers\n"
    'normalize(source_str="...", target_str="...")  # fix a string everywhere\n'
    "keep_chunk()  # nothing to clean\n\n"
    "Example:\n[doc]\n[000]Home | Products | Contact\n[001]Our new kettle boils water in 60 seconds.\n"
    "[002]© 2024 Kettle Inc. All rights reserved.\n[/doc]\n"
    "Program:\nremove_lines(line_start=0, line_end=0)\nremove_lines(line_start=2, line_end=2)\n\n"
)


def truncate_tokens(text: str, tokenize: Tokenize, detokenize: Callable[[Sequence[int]], str],
                    max_tokens: int = DOC_TOKENS) -> str:
    ids = list(tokenize(text))
    return text if len(ids) <= max_tokens else detokenize(ids[:max_tokens])


def doc_messages(text: str, few_shot: bool) -> list[dict]:
    """Chat messages for the document-level program (the backend applies the chat template)."""
    return [{"role": "user", "content": (DOC_INSTRUCTION if few_shot else "") + text}]


def numbered_lines(text: str) -> list[str]:
    """``[000]line`` for every line; the number widens past 999 (``[1000]``)."""
    return [f"[{i:03d}]{line}" for i, line in enumerate(text.split("\n"))]


@dataclass(frozen=True)
class Chunk:
    text: str  # ``[doc]\\n[NNN]line…\\n[/doc]``
    first: int  # its first and last line numbers (over the whole document)
    last: int


def chunks_of(text: str, tokenize: Tokenize, max_tokens: int = CHUNK_TOKENS) -> list[Chunk]:
    """Greedy chunks of numbered lines, each at most ``max_tokens`` (a longer single line stands alone).

    Each chunk is wrapped ``[doc]\\n...\\n[/doc]``; line numbers run over the whole document.
    """
    groups: list[list[str]] = []
    current: list[str] = []
    used = 0
    for line in numbered_lines(text):
        n = len(tokenize(line + "\n"))
        if current and used + n > max_tokens:
            groups.append(current)
            current, used = [], 0
        current.append(line)
        used += n
    if current:
        groups.append(current)
    out, first = [], 0
    for group in groups:
        out.append(Chunk("[doc]\n" + "\n".join(group) + "\n[/doc]", first, first + len(group) - 1))
        first += len(group)
    return out


def chunk_texts(text: str, tokenize: Tokenize, max_tokens: int = CHUNK_TOKENS) -> list[str]:
    return [c.text for c in chunks_of(text, tokenize, max_tokens)]


def chunk_messages(chunk: str, few_shot: bool) -> list[dict]:
    return [{"role": "user", "content": (CHUNK_INSTRUCTION if few_shot else "") + chunk
             + ("\nProgram:\n" if few_shot else "")}]
