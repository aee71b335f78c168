"""datatrove's spaCy word tokenizer with the same tokens, computed once per distinct chunk of text.

datatrove's filters tokenize through ``split_into_words(text, language)``;
``language`` may be a ``WordTokenizer`` instance (datatrove's documented hook
for custom tokenizers), so the filters run unchanged with this one. It returns
exactly the tokens of datatrove's ``SpaCyTokenizer`` (the agreement test checks
every decision, and tests/quality/test_cached_word_tokenizer.py compares the tokens) but spends
most of its time in dict lookups instead of spaCy:

- spaCy's tokenizer cuts the text at whitespace and tokenizes each
  whitespace-free chunk on its own (its prefix/suffix/infix rules never look
  past the chunk). A document repeats chunks ("the", "of", "data.") many
  times and a corpus repeats them across documents, so the tokens of each
  distinct chunk are computed once by spaCy and then looked up
  (``ChunkTokenCache``). spaCy has such a cache too, but stops filling it for
  the rest of a text after the first special case ("\\n", "don't"), i.e. in
  almost every document, and datatrove's ``memory_zone`` empties it per call.
- The one rule that looks across chunks is spaCy's special-case matcher: a
  special case such as ``:)`` can match tokens that straddle a single space
  (``":"`` ending one chunk, ``")"`` starting the next), which may stop an
  overlapping special case from applying. (It can never span other
  whitespace: that becomes a whitespace token, and no multi-token special
  case contains whitespace, which is checked when the cache is built.) So
  where a chunk ends in the left part of a special case and the next starts
  with its right part (a necessary condition, computed from the tokenizer's
  own rules: ``SpecialCaseEdges``), that run of chunks is cut from the text
  with its own whitespace and tokenized by spaCy; everything else comes from
  the cache.
- Unseen chunks go through a copy of the tokenizer on a vocab that computes no
  lexeme attributes (``lean_copy``), in a spaCy memory zone, so spaCy keeps
  nothing per chunk: the cache's memory is bounded by its own size.

Languages whose datatrove tokenizer needs a special spaCy config (ja, zh, vi)
or another tokenizer class use datatrove's own code path, as do texts
containing "IS_ALPHA" (see ``_datatrove_path``). Sentence splitting (C4's
per-line sentence count) still runs spaCy's pipeline with datatrove's
``sentencizer``.
"""
from __future__ import annotations

import re
import threading
from itertools import chain

from datatrove.utils.word_tokenizers import SpaCyTokenizer, strip_strings

_WHITESPACE_RUNS = re.compile(r"(\s+)")  # re's \s is str.isspace, which is what spaCy splits on
_IS_ALPHA = "IS_ALPHA"  # a string that breaks spaCy; datatrove strips it on failure
_NONE: frozenset[str] = frozenset()


def _token_texts(doc, text: str) -> list[str]:
    """``[t.text for t in doc]`` without creating a Token object per token.

    spaCy tokens are exact slices of the text (the tokenizer never alters
    characters), so each token is ``text[idx : idx + length]``; ``text`` is the
    string that was tokenized (``doc.text`` would rebuild it token by token).
    """
    from spacy.attrs import IDX, LENGTH

    return [text[i : i + n] for i, n in doc.to_array([IDX, LENGTH]).tolist()]


class SpecialCaseEdges:
    """Where spaCy's special-case matcher could reach across whitespace, from the tokenizer's own rules.

    The matcher looks for each rule's affix tokenization (its "pieces": the
    rule tokenized without special cases). A match straddling whitespace
    leaves some pieces at the end of one chunk and the next pieces at the
    start of the following chunk: ``crossings`` holds every such (left, right)
    pair of joined pieces. ``from_tokenizer`` gives None when a multi-piece rule
    contains whitespace (then a match could also span a line break).
    """

    def __init__(self, crossings: set[tuple[str, str]], rule_tokens: list[tuple[str, ...]]):
        self.crossings = crossings
        self.rights_of_left: dict[str, frozenset[str]] = {}
        lefts_by_last: dict[str, set[str]] = {}
        rights_by_first: dict[str, set[str]] = {}
        for left, right in crossings:
            self.rights_of_left[left] = self.rights_of_left.get(left, frozenset()) | {right}
            lefts_by_last.setdefault(left[-1], set()).add(left)
            rights_by_first.setdefault(right[0], set()).add(right)
        self.lefts_by_last = {k: tuple(v) for k, v in lefts_by_last.items()}
        self.rights_by_first = {k: tuple(v) for k, v in rights_by_first.items()}
        self.rights = frozenset(right for _, right in crossings)
        self.max_pieces = max((len(left) for left, _ in crossings), default=0)  # a piece is >= 1 char
        self.rule_tokens_by_first: dict[str, list[tuple[str, ...]]] = {}
        for tokens in rule_tokens:
            self.rule_tokens_by_first.setdefault(tokens[0], []).append(tokens)

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "SpecialCaseEdges | None":
        from spacy.attrs import ORTH
        from spacy.tokenizer import Tokenizer

        bare = Tokenizer(tokenizer.vocab, rules={}, prefix_search=tokenizer.prefix_search,
                         suffix_search=tokenizer.suffix_search, infix_finditer=tokenizer.infix_finditer,
                         token_match=tokenizer.token_match, url_match=tokenizer.url_match)
        crossings = set()
        rule_tokens = []
        for rule, substrings in tokenizer.rules.items():
            pieces = [t.text for t in bare(rule)]
            if len(pieces) > 1 and any(ch.isspace() for ch in rule):
                return None
            for j in range(len(pieces)):
                for k in range(j + 1, len(pieces)):
                    for m in range(k + 1, len(pieces) + 1):
                        crossings.add(("".join(pieces[j:k]), "".join(pieces[k:m])))
            rule_tokens.append(tuple(sub[ORTH] if ORTH in sub else sub["ORTH"] for sub in substrings))
        return cls(crossings, rule_tokens)

    def may_hold_applied_rule(self, tokens: tuple[str, ...]) -> bool:
        """Could the matcher have replaced some of these (chunk-alone) tokens? False is certain.

        An applied special case leaves its rule's tokens in place; where none
        occur, the tokens are exactly the affix tokenization the matcher saw.
        """
        for i, token in enumerate(tokens):
            for rule in self.rule_tokens_by_first.get(token, ()):
                if tokens[i : i + len(rule)] == rule:
                    return True
        return False

    def edges(self, chunk: str, tokens: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
        """(right parts a following chunk would have to start with to straddle, right parts this chunk starts with).

        Edges are taken at token boundaries when the tokens are the ones the
        matcher sees, and at every character otherwise.
        """
        if len(tokens) == 1 and tokens[0] not in self.rule_tokens_by_first:  # most chunks: one plain token
            rights = frozenset(tokens) if tokens[0] in self.rights else _NONE
            return self.rights_of_left.get(tokens[0], _NONE), rights
        if self.may_hold_applied_rule(tokens):
            ends = [left for left in self.lefts_by_last.get(chunk[-1], ()) if chunk.endswith(left)]
            starts = [right for right in self.rights_by_first.get(chunk[0], ()) if chunk.startswith(right)]
        else:
            depth = min(len(tokens), self.max_pieces)
            ends = ["".join(tokens[-n:]) for n in range(1, depth + 1)]
            starts = ["".join(tokens[:n]) for n in range(1, depth + 1)]
        partners = frozenset().union(*(self.rights_of_left[left] for left in ends if left in self.rights_of_left))
        rights = frozenset(right for right in starts if right in self.rights)
        return partners, rights


def lean_copy(tokenizer):
    """The same spaCy tokenizer (rules, affix patterns) on a vocab that computes no lexeme attributes.

    Tokens depend only on the rules and patterns. The attributes spaCy
    computes for every new word (shape, like_num, stop word, ...) are never
    read here, and computing them is about a third of the time spent on
    unseen chunks.
    """
    from spacy.tokenizer import Tokenizer
    from spacy.vocab import Vocab

    return Tokenizer(Vocab(lex_attr_getters={}), rules=tokenizer.rules, prefix_search=tokenizer.prefix_search,
                     suffix_search=tokenizer.suffix_search, infix_finditer=tokenizer.infix_finditer,
                     token_match=tokenizer.token_match, url_match=tokenizer.url_match,
                     faster_heuristics=tokenizer.faster_heuristics)


class ChunkTokenCache:
    """Tokens of whitespace-free chunks, filled by one spaCy call per document for the chunks not yet seen.

    Bounded: the cache is emptied when it holds ``max_chunks`` chunks (tokens
    never depend on what is cached). About 0.4 KB per chunk: a chunk that is one
    token shares its string, equal edge sets are one object, and spaCy keeps
    nothing (``_spacy_tokens``).
    """

    def __init__(self, template, special_cases: SpecialCaseEdges, max_chunks: int = 500_000):
        self.tokenizer = lean_copy(template)
        self.special_cases = special_cases
        self.max_chunks = max_chunks
        self.tokens: dict[str, tuple[str, ...]] = {}
        # only chunks with a non-empty entry are listed (see SpecialCaseEdges.edges)
        self.partners: dict[str, frozenset[str]] = {}
        self.right_starts: dict[str, frozenset[str]] = {}
        self._interned: dict[frozenset[str], frozenset[str]] = {}  # one object per distinct edge set
        self.runs_by_spacy = 0  # chunk runs tokenized whole because a special case could straddle whitespace
        self._lock = threading.Lock()

    def add_missing(self, chunks: list[str]) -> None:
        missing = set(chunks).difference(self.tokens)
        if not missing:
            return
        if len(self.tokens) + len(missing) > self.max_chunks:
            self.tokens.clear(), self.partners.clear(), self.right_starts.clear(), self._interned.clear()
            missing = set(chunks)
        # "\n" between chunks: no special case can match across it, so each chunk is tokenized as if alone
        ordered = list(missing)
        joined = "\n".join(ordered)
        group: list[str] = []
        groups = [group]
        for token in self._spacy_tokens(joined):
            if token == "\n":
                group = []
                groups.append(group)
            else:
                group.append(token)
        if len(groups) != len(ordered):
            raise AssertionError(f"spaCy split {len(ordered)} newline-separated chunks into {len(groups)} groups")
        for chunk, pieces in zip(ordered, groups):
            tokens = self.tokens[chunk] = (chunk,) if len(pieces) == 1 else tuple(pieces)
            partners, rights = self.special_cases.edges(chunk, tokens)
            if partners:
                self.partners[chunk] = self._interned.setdefault(partners, partners)
            if rights:
                self.right_starts[chunk] = self._interned.setdefault(rights, rights)

    def _spacy_tokens(self, text: str) -> list[str]:
        """spaCy's tokens of ``text``, in a memory zone: the lexemes and strings of the chunks it
        sees are freed after the call (this class caches the tokens; spaCy's cache would hold
        every chunk a second time and grow without bound)."""
        with self.tokenizer.vocab.memory_zone():
            return _token_texts(self.tokenizer(text), text)

    def may_straddle(self, chunk: str, next_chunk: str) -> bool:
        """Could a special case match across the whitespace between these chunks? (False is certain.)"""
        partners = self.partners.get(chunk)
        rights = self.right_starts.get(next_chunk) if partners else None
        return bool(rights) and not partners.isdisjoint(rights)

    def words(self, text: str) -> list[str]:
        """The tokens spaCy gives ``text``, whitespace tokens removed."""
        with self._lock:  # one worker's DoFn threads share this cache; add_missing may empty it
            return self._words(text)

    def _words(self, text: str) -> list[str]:
        chunks = text.split()
        self.add_missing(chunks)
        partners = self.partners
        straddled = [i for i, chunk in enumerate(chunks[:-1])
                     if chunk in partners and self.may_straddle(chunk, chunks[i + 1])]
        if not straddled:
            return list(chain.from_iterable(map(self.tokens.__getitem__, chunks)))
        return self._words_with_runs(text, chunks, straddled)

    def _words_with_runs(self, text: str, chunks: list[str], straddled: list[int]) -> list[str]:
        """Cached tokens, except that each run of chunks joined by possibly straddled whitespace goes to spaCy whole.

        Any match across whitespace lies inside such a run (every gap it
        crosses passes ``may_straddle``), so the run, cut from the text with its
        own whitespace, is tokenized exactly as within the whole text.
        """
        parts = _WHITESPACE_RUNS.split(text)  # chunk, whitespace, chunk, ...; "" first/last if text starts/ends blank
        first_part = 2 if parts[0] == "" else 0
        runs: list[list[int]] = []  # [first chunk, last chunk]
        for gap in straddled:  # gap i lies between chunks i and i + 1
            if runs and runs[-1][1] == gap:
                runs[-1][1] = gap + 1
            else:
                runs.append([gap, gap + 1])
        cached = self.tokens.__getitem__
        words: list[str] = []
        done = 0
        for first, last in runs:
            words.extend(chain.from_iterable(map(cached, chunks[done:first])))
            run = "".join(parts[first_part + 2 * first : first_part + 2 * last + 1])
            words.extend(strip_strings(self._spacy_tokens(run)))
            done = last + 1
        words.extend(chain.from_iterable(map(cached, chunks[done:])))
        self.runs_by_spacy += len(runs)
        return words


class SharedSpacyTokenizer(SpaCyTokenizer):
    """datatrove's SpaCyTokenizer, with words from ``ChunkTokenCache``.

    Sentence splitting keeps spaCy's pipeline and its vocab between calls (its
    lexeme attributes are costly to recompute); the pipeline is rebuilt once
    its string store passes ``max_strings``. A string costs spaCy ~0.7 KB or
    more (measured on a vocab without attributes).
    """

    def __init__(self, language: str = "en", max_strings: int = 200_000):
        super().__init__(language)
        self.max_strings = max_strings
        self._chunks: ChunkTokenCache | None = None
        self.tokenizations = 0  # how many texts were actually tokenized (for tests)

    def _nlp(self):
        nlp = self.tokenizer
        if len(nlp.vocab.strings) > self.max_strings:
            self._tokenizer = None  # a fresh blank pipeline; tokens do not depend on cache state
            nlp = self.tokenizer
        return nlp

    def _chunk_cache(self) -> ChunkTokenCache | None:
        from spacy.tokenizer import Tokenizer

        if self._chunks is None:
            template = self.tokenizer.tokenizer
            edges = SpecialCaseEdges.from_tokenizer(template) if type(template) is Tokenizer else None
            self._chunks = ChunkTokenCache(template, edges) if edges else False
        return self._chunks or None

    def _datatrove_path(self, text: str) -> bool:
        """Texts datatrove's own code must tokenize: languages with a spaCy config, and any text
        containing "IS_ALPHA", a string on which spaCy's output depends on what it tokenized
        before (datatrove strips it after spaCy fails), so only datatrove's exact sequence of
        calls reproduces datatrove's tokens."""
        return self.config is not None or _IS_ALPHA in text

    def word_tokenize(self, text: str) -> list[str]:
        self.tokenizations += 1
        if self._datatrove_path(text):
            return super().word_tokenize(text)
        chunks = self._chunk_cache()
        if chunks is not None:
            return chunks.words(text)
        return strip_strings(_token_texts(self._nlp().tokenizer(text), text))

    def _docs(self, text: str):
        nlp = self._nlp()
        nlp.max_length = len(text) + 10
        return nlp(text, disable=["parser", "tagger", "ner"])

    def sent_tokenize(self, text: str) -> list[str]:
        if self._datatrove_path(text):
            return super().sent_tokenize(text)
        return strip_strings([s.text for s in self._docs(text).sents])

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        if self._datatrove_path(text):
            return super().span_tokenize(text)
        return [(s.start_char, s.end_char) for s in self._docs(text).sents]

    def __reduce__(self):  # picklable for Beam: ship the settings, not the spaCy pipeline
        return (type(self), (self.language, self.max_strings))
