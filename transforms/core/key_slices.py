"""Every document's key, grouped as a few compact chunks per slice of a 64-bit key space.

Some decisions must see one key of every document before they can decide about
any: which ids repeat (``normalize``), which texts are equal (``exact_dedup``).
Grouped one element per
document, FnApiRunner holds every key in the runner process as Python objects,
about 200 bytes each, whatever the key's size: hundreds of MB per grouping at a
million documents. Instead a worker gathers its keys, cuts them by the top bits
of a 64-bit key into slices, and sends each slice as one chunk: numpy arrays and
the slice's strings as one Arrow string array (two buffers: offsets and UTF-8
data), a few bytes per key plus the string's own length. A GroupByKey on the slice brings together every
key that can be equal, and one numpy sort per slice finds the equal ones
(``equal_runs``). The groups are the ones a GroupByKey on the key itself gives;
only the number and size of the elements change. On Dataflow, shuffle is a
service and this changes nothing but the element count.

One key per document stays small (~30 bytes a key at a million documents:
~30 MB in the runner). ``minhash_dedup``'s band keys, 14 per document, and its
candidates' shingle sets were gigabytes even so: they go through files instead
(``keyed_runs``), whose ``equal_runs`` and ``run_strings`` come from here.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindows

# Keys a worker gathers before it cuts and sends them (about 30 bytes each with a short id).
FLUSH_KEYS = 1 << 20


def string_array(strings: Iterable[str]) -> pa.StringArray:
    """Strings as one Arrow array: Beam pickles it as its two buffers, not as Python objects.

    ``take`` gathers rows into fresh buffers; a ``slice`` would carry its parent's
    whole buffers over the wire, so chunks are always built with ``take``. Arrow's
    int32 offsets cap one array at 2 GiB of strings; ``concat_arrays`` raises on
    more, far beyond a slice's ids.
    """
    return pa.array(list(strings), pa.string())


def slice_chunks(keys: np.ndarray, columns: tuple[np.ndarray, ...], strings: pa.StringArray, bits: int,
                 string_rows: np.ndarray | None = None) -> Iterator[tuple[int, tuple]]:
    """Rows of (uint64 key, column values, string) → ``(slice, chunk)`` per non-empty slice.

    The slice is the key's top ``bits`` bits. ``string_rows`` maps each row to its
    string when several rows share one (a document's band keys all carry its id).
    A chunk is ``(key bytes, (column bytes, ...), strings)``.
    """
    slices = (keys >> np.uint64(64 - bits)).astype(np.int64)
    order = np.argsort(slices, kind="stable")
    slices = slices[order]
    starts = np.flatnonzero(np.r_[True, slices[1:] != slices[:-1]]) if len(order) else np.empty(0, np.int64)
    ends = np.r_[starts[1:], len(order)]
    for start, end in zip(starts.tolist(), ends.tolist()):
        rows = order[start:end]
        taken = strings.take(rows if string_rows is None else string_rows[rows])
        yield int(slices[start]), (keys[rows].tobytes(), tuple(c[rows].tobytes() for c in columns), taken)


def open_slice(chunks: Iterable[tuple], dtypes: tuple) -> tuple[np.ndarray, tuple[np.ndarray, ...], pa.StringArray]:
    """One slice's chunks → its keys, columns (of ``dtypes``) and strings, concatenated.
    Read the strings of equal runs with ``run_strings``."""
    chunks = list(chunks)
    keys = np.concatenate([np.frombuffer(c[0], np.uint64) for c in chunks])
    columns = tuple(np.concatenate([np.frombuffer(c[1][i], dtype) for c in chunks]) for i, dtype in enumerate(dtypes))
    return keys, columns, pa.concat_arrays([c[2] for c in chunks])


def equal_runs(*arrays: np.ndarray) -> Iterator[np.ndarray]:
    """The row indices of every run of at least two rows equal in all ``arrays``."""
    order = np.lexsort(arrays[::-1])
    differs = np.zeros(max(len(order) - 1, 0), bool)
    for a in arrays:
        a = a[order]
        differs |= a[1:] != a[:-1]
    starts = np.flatnonzero(np.r_[True, differs]) if len(order) else np.empty(0, np.int64)
    ends = np.r_[starts[1:], len(order)]
    shared = (ends - starts) >= 2
    for start, end in zip(starts[shared].tolist(), ends[shared].tolist()):
        yield order[start:end]


def run_strings(strings: pa.StringArray, runs: Iterable[np.ndarray]) -> Iterator[list[str]]:
    """The strings of each run (``equal_runs``), gathered with one ``take`` for all the runs of a
    slice: a take per run is a pyarrow call per bucket, and an LSH slice can hold thousands."""
    runs = list(runs)
    if not runs:
        return
    taken = strings.take(np.concatenate(runs)).to_pylist()
    start = 0
    for run in runs:
        yield taken[start:start + len(run)]
        start += len(run)


class _SliceKeysFn(beam.DoFn):
    def __init__(self, key_of: Callable, dtypes: tuple, bits: int):
        self._key_of = key_of
        self._dtypes = dtypes
        self._bits = bits

    def start_bundle(self):
        self._rows: list[tuple] = []

    def process(self, doc):
        self._rows.append(self._key_of(doc))
        if len(self._rows) >= FLUSH_KEYS:
            yield from self._chunks()

    def finish_bundle(self):
        for chunk in self._chunks():
            yield GlobalWindows.windowed_value(chunk)

    def _chunks(self):
        rows, self._rows = self._rows, []
        if not rows:
            return
        keys = np.fromiter((r[0] for r in rows), np.uint64, len(rows))
        columns = tuple(np.fromiter((r[1][i] for r in rows), dtype, len(rows)) for i, dtype in enumerate(self._dtypes))
        strings = string_array(r[2] for r in rows)
        del rows
        yield from slice_chunks(keys, columns, strings, self._bits)


class GroupKeysBySlice(beam.PTransform):
    """Elements → ``(slice, chunks)``: every element's ``key_of(element) = (uint64 key, (column values, ...),
    string)``, grouped by the key's top ``bits`` bits. Read a slice with ``open_slice(chunks, dtypes)``."""

    def __init__(self, key_of: Callable, dtypes: tuple = (), bits: int = 8):
        super().__init__()
        self._fn = _SliceKeysFn(key_of, dtypes, bits)

    def expand(self, elements):
        return elements | "Chunk" >> beam.ParDo(self._fn) | "BySlice" >> beam.GroupByKey()
