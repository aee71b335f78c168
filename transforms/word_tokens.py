"""datatrove's spaCy word tokenizer, tokenizing each text once and keeping spaCy's cache warm.

datatrove's filters tokenize through ``split_into_words(text, language)``;
``language`` may be a ``WordTokenizer`` instance (datatrove's documented hook
for custom tokenizers), so the filters run unchanged with this one. It returns
the same tokens as datatrove's ``SpaCyTokenizer`` (the agreement test checks
every decision) but is faster because:

- it runs only spaCy's tokenizer for words, not the whole ``nlp`` pipeline
  (the ``sentencizer`` pipe never changes tokens);
- it does not open a ``memory_zone`` per call: datatrove does so to bound
  memory, which also throws away spaCy's lexeme and affix caches after every
  document, and rebuilding them is most of the cost. Memory is bounded here
  instead by rebuilding the blank pipeline when its string store grows past
  ``max_strings``;
- it remembers the last text's tokens, so filters that see the same text
  (Gopher quality and repetition, FineWeb when C4 changed nothing) share one
  tokenization.

Languages whose datatrove tokenizer needs a special spaCy config (ja, zh, vi)
use datatrove's own code path.
"""
from __future__ import annotations

from datatrove.utils.word_tokenizers import SpaCyTokenizer, strip_strings

_IS_ALPHA = "IS_ALPHA"  # a string that breaks spaCy; datatrove strips it on failure


def _token_texts(doc, text: str) -> list[str]:
    """``[t.text for t in doc]`` without creating a Token object per token.

    spaCy tokens are exact slices of the text (the tokenizer never alters
    characters), so each token is ``text[idx : idx + length]``; ``text`` is the
    string that was tokenized (``doc.text`` would rebuild it token by token).
    """
    from spacy.attrs import IDX, LENGTH

    return [text[i : i + n] for i, n in doc.to_array([IDX, LENGTH]).tolist()]


class SharedSpacyTokenizer(SpaCyTokenizer):
    def __init__(self, language: str = "en", max_strings: int = 2_000_000):
        super().__init__(language)
        self.max_strings = max_strings
        self._last_text: str | None = None
        self._last_words: list[str] = []
        self.tokenizations = 0  # how many texts were actually tokenized (for tests)

    def _nlp(self):
        nlp = self.tokenizer
        if len(nlp.vocab.strings) > self.max_strings:
            self._tokenizer = None  # a fresh blank pipeline; tokens do not depend on cache state
            nlp = self.tokenizer
        return nlp

    def word_tokenize(self, text: str) -> list[str]:
        if self.config is not None:
            return super().word_tokenize(text)
        if text is self._last_text or text == self._last_text:
            return list(self._last_words)
        tokenize = self._nlp().tokenizer
        try:
            tokens = _token_texts(tokenize(text), text)
        except Exception:
            if _IS_ALPHA not in text:
                raise
            stripped = text.replace(_IS_ALPHA, "")
            tokens = _token_texts(tokenize(stripped), stripped)
        self.tokenizations += 1
        words = strip_strings(tokens)
        self._last_text, self._last_words = text, words
        return list(words)

    def _docs(self, text: str):
        nlp = self._nlp()
        nlp.max_length = len(text) + 10
        try:
            return nlp(text, disable=["parser", "tagger", "ner"])
        except Exception:
            if _IS_ALPHA not in text:
                raise
            return nlp(text.replace(_IS_ALPHA, ""), disable=["parser", "tagger", "ner"])

    def sent_tokenize(self, text: str) -> list[str]:
        if self.config is not None:
            return super().sent_tokenize(text)
        return strip_strings([s.text for s in self._docs(text).sents])

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        if self.config is not None:
            return super().span_tokenize(text)
        return [(s.start_char, s.end_char) for s in self._docs(text).sents]

    def __reduce__(self):  # picklable for Beam: ship the settings, not the spaCy pipeline
        return (type(self), (self.language, self.max_strings))
