"""The evaluation sets' n-grams, hashed once, and the search of one document against them.

Every eval item's words (``transforms.decontam.ngrams``) give its n-gram hashes;
an item with fewer than ``min_eval_ngrams`` n-grams is matched whole instead (the
hash of all its words, searched at its own length), and one with fewer than
``min_item_words`` words is not searched at all (GPT-3's floor: shorter
sequences occur in ordinary text by chance) and is counted as too short.

The index is three arrays: the sorted distinct hashes, and per hash the items
that hold it (CSR offsets into an item array), about 20 bytes per distinct
n-gram. A document is searched with one ``searchsorted`` per length.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from transforms.decontam.ngrams import merge_spans, ngram_hashes, word_hashes, words


@dataclass
class HashTable:
    """Sorted distinct hashes; ``items[starts[i]:starts[i+1]]`` are the items holding ``keys[i]``."""

    keys: np.ndarray
    starts: np.ndarray
    items: np.ndarray

    @classmethod
    def build(cls, hashes: np.ndarray, items: np.ndarray) -> HashTable:
        order = np.lexsort((items, hashes))
        hashes, items = hashes[order], items[order]
        keep = np.ones(len(hashes), bool)  # one (hash, item) pair per item
        keep[1:] = (hashes[1:] != hashes[:-1]) | (items[1:] != items[:-1])
        hashes, items = hashes[keep], items[keep]
        keys, starts = np.unique(hashes, return_index=True)
        return cls(keys, np.append(starts, len(hashes)).astype(np.int64), items.astype(np.int32))

    def find(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``hashes`` found in the table, and the key index of each."""
        if not len(self.keys) or not len(hashes):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        where = np.minimum(np.searchsorted(self.keys, hashes), len(self.keys) - 1)
        hit = np.flatnonzero(self.keys[where] == hashes)
        return hit, where[hit]

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.starts.nbytes + self.items.nbytes


@dataclass
class SetMatch:
    """One eval set's matches in one document."""

    ngrams: int = 0  # document n-gram positions that are in this set's items
    whole: int = 0  # whole short items found
    items: set[int] = field(default_factory=set)
    spans: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class EvalIndex:
    n: int
    item_ids: list[tuple[str, str]]  # (eval set, item id) per item index
    ngrams: HashTable
    whole: dict[int, HashTable]  # word count → table of whole short items of that length
    too_short: dict[str, int]  # eval set → items under min_item_words, not searched

    @classmethod
    def build(cls, items: list[tuple[str, str, str]], n: int, min_eval_ngrams: int = 1,
              min_item_words: int = 8) -> EvalIndex:
        """``items``: (eval set, item id, text)."""
        item_ids: list[tuple[str, str]] = []
        gram_hashes, gram_items = [], []
        whole: dict[int, tuple[list[int], list[int]]] = {}
        too_short: dict[str, int] = {}
        for set_name, item_id, text in items:
            hashes = word_hashes(words(text)[0])
            index = len(item_ids)
            item_ids.append((set_name, item_id))
            if len(hashes) - n + 1 >= min_eval_ngrams:
                grams = ngram_hashes(hashes, n)
                gram_hashes.append(grams)
                gram_items.append(np.full(len(grams), index, np.int32))
            elif len(hashes) >= min_item_words:
                keys, owners = whole.setdefault(len(hashes), ([], []))
                keys.append(int(ngram_hashes(hashes, len(hashes))[0]))
                owners.append(index)
            else:
                too_short[set_name] = too_short.get(set_name, 0) + 1
        table = HashTable.build(
            np.concatenate(gram_hashes) if gram_hashes else np.empty(0, np.uint64),
            np.concatenate(gram_items) if gram_items else np.empty(0, np.int32))
        return cls(n, item_ids, table,
                   {k: HashTable.build(np.array(keys, np.uint64), np.array(owners, np.int32))
                    for k, (keys, owners) in sorted(whole.items())},
                   too_short)

    @property
    def nbytes(self) -> int:
        return self.ngrams.nbytes + sum(t.nbytes for t in self.whole.values())

    def search(self, text: str) -> dict[str, SetMatch]:
        """Per eval set with any match: the matching n-gram positions, whole items, item indexes and spans."""
        found, spans = words(text)
        hashes = word_hashes(found)
        matches: dict[str, SetMatch] = {}
        for length, table, is_whole in [(self.n, self.ngrams, False)] + [(k, t, True) for k, t in self.whole.items()]:
            positions, keys = table.find(ngram_hashes(hashes, length))
            for position, key in zip(positions.tolist(), keys.tolist()):
                sets_here = set()
                for item in table.items[table.starts[key]:table.starts[key + 1]].tolist():
                    set_name = self.item_ids[item][0]
                    match = matches.setdefault(set_name, SetMatch())
                    match.items.add(item)
                    if set_name not in sets_here:
                        sets_here.add(set_name)
                        match.spans.append((spans[position][0], spans[position + length - 1][1]))
                        if is_whole:
                            match.whole += 1
                        else:
                            match.ngrams += 1
        for match in matches.values():
            match.spans = merge_spans(match.spans)
        return matches
