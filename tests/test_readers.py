import io

from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.readers import iter_lines, pattern_base, relative_origin


def lines_of(data: bytes, limit: int = 1 << 20):
    return list(iter_lines(io.BytesIO(data).read, limit))


def test_lines_are_numbered_from_one_and_strip_crlf():
    assert lines_of(b"a\r\nb\nc") == [(1, b"a", False), (2, b"b", False), (3, b"c", False)]


def test_trailing_newline_adds_no_empty_line():
    assert lines_of(b"a\nb\n") == [(1, b"a", False), (2, b"b", False)]


def test_blank_lines_keep_their_numbers():
    assert [n for n, _, _ in lines_of(b"a\n\nb\n")] == [1, 2, 3]


def test_huge_line_is_truncated_and_flagged_without_losing_the_next_line():
    data = b"x" * 5000 + b"\nnext\n"
    out = lines_of(data, limit=100)
    assert out[0] == (1, b"x" * 100, True)
    assert out[1] == (2, b"next", False)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=64))
def test_every_line_is_yielded_in_order(data, limit):
    out = list(iter_lines(io.BytesIO(data).read, limit))
    expected = data.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert [n for n, _, _ in out] == list(range(1, len(expected) + 1))
    for (_, line, truncated), raw in zip(out, expected):
        assert truncated == (len(raw) > limit)
        assert line == raw[:limit].rstrip(b"\r")


def test_pattern_base_and_origin_names():
    assert pattern_base("/data/sample/*.jsonl.zst") == "/data/sample/"
    assert pattern_base("gs://b/x/part-*.jsonl") == "gs://b/x/"
    assert pattern_base("/data/one.jsonl") == "/data/"
    assert relative_origin("/data/sample/a.jsonl", "/data/sample/") == "a.jsonl"
