import numpy as np
import pyarrow as pa

from transforms.core.keyed_runs import KEY, KeyedRunWriter, key_ranges, read_key_range, read_range


def _rows(keys, start):
    return pa.table({KEY: pa.array(keys, pa.uint64()), "n": pa.array(np.arange(start, start + len(keys)))})


def test_every_row_comes_back_once_and_each_key_in_one_range(tmp_path):
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 2**64, 20_000, dtype=np.uint64)
    keys[:3000] = keys[rng.integers(0, 20_000, 3000)]  # repeated keys, written by different writers
    keys[-5:] = [0, 0, 2**64 - 1, 2**63, 2**63 - 1]  # the ends and the middle of the key space
    runs, start = [], 0
    for part in np.array_split(keys, 4):  # four writers
        writer = KeyedRunWriter(str(tmp_path), run_bytes=30_000)
        for batch in np.array_split(part, 7):
            runs += [w for w in [writer.add(_rows(batch, start))] if w]
            start += len(batch)
        runs += [w for w in [writer.flush()] if w]
    for run in runs:
        assert run["first"] <= run["last"]
    ranges = key_ranges(runs, range_bytes=25_000)
    assert len(runs) > 4 and len(ranges) > 4
    assert ranges[0][0] == 0 and ranges[-1][1] is None
    seen, range_of = [], {}
    for i, key_range in enumerate(ranges):
        table = read_range(key_range)
        seen += table.column("n").to_pylist()
        for key in table.column(KEY).to_pylist():
            assert range_of.setdefault(key, i) == i
    assert sorted(seen) == list(range(len(keys)))


def test_a_range_reads_only_its_keys_and_nothing_comes_from_no_runs(tmp_path):
    writer = KeyedRunWriter(str(tmp_path))
    assert writer.flush() is None and key_ranges([]) == []
    writer.add(_rows([5, 1, 9, 3], 0))
    run = writer.flush()
    assert (run["rows"], run["first"], run["last"]) == (4, 1, 9)
    assert read_key_range(run, 3, 9).column(KEY).to_pylist() == [3, 5]
    assert read_key_range(run, 10, None) is None
    assert read_key_range(run, 9, None).column_names == [KEY, "n"]
