"""extract_text: datatrove's own Trafilatura decisions, in its sandbox, with every outcome accounted for."""
import json

import pytest

from transforms.core.outcomes import Dropped, Kept, Quarantined
from transforms.web.extract_text import ExtractText, ExtractTextConfig

ARTICLE = """<html><head><title>Rivers</title></head><body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<article><h1>How rivers shape valleys</h1>
<p>Rivers carry sediment from the mountains to the sea. Over thousands of years the moving water cuts
into the rock and widens the valley floor, leaving terraces where the river once ran.</p>
<p>Floods move the largest stones. After a flood the channel may shift by many metres, and old bends
are cut off to become quiet lakes that slowly fill with silt and reeds.</p>
<table><tr><td>Length</td><td>6,650 km</td></tr></table>
</article>
<footer>Copyright 2026. All rights reserved.</footer></body></html>"""
MENU_ONLY = "<html><head><script>var x = 1;</script></head><body><img src='a.png'></body></html>"


def run(processor, docs):
    try:
        return [processor.process({"id": str(i), "text": html}) for i, html in enumerate(docs)]
    finally:
        processor.teardown()


def test_decisions_are_datatrove_trafilatura_and_every_page_is_accounted_for():
    from datatrove.pipeline.extractors import Trafilatura

    got = run(ExtractText("extract_text", ExtractTextConfig()), [ARTICLE, MENU_ONLY])
    reference = Trafilatura(include_tables=False).extract(ARTICLE)
    assert isinstance(got[0], Kept) and got[0].doc["text"] == reference
    assert "terraces" in reference and "Copyright" not in reference and "6,650" not in reference
    detail = json.loads(got[0].doc["provenance"][-1]["detail"])
    assert detail == {"extractor": "trafilatura", "html_chars": len(ARTICLE), "text_chars": len(reference)}
    assert isinstance(got[1], Dropped) and got[1].reason == "extract_empty"


def test_tables_only_when_asked():
    [kept] = run(ExtractText("extract_text", ExtractTextConfig(include_tables=True)), [ARTICLE])
    assert "6,650" in kept.doc["text"]


def test_a_page_over_the_timeout_is_quarantined_and_the_next_one_is_extracted():
    huge = "<html><body>" + "".join(f"<div><p>Paragraph {i} about rivers and stones and the sea.</p></div>"
                                    for i in range(60000)) + "</body></html>"
    got = run(ExtractText("extract_text", ExtractTextConfig(timeout_s=0.5)), [ARTICLE, huge, ARTICLE])
    assert isinstance(got[0], Kept) and isinstance(got[2], Kept)  # the sandbox restarts after the timeout
    assert isinstance(got[1], Quarantined) and got[1].error == "extract_timeout: over 0.5 s"


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_both_extractors_find_the_article(extractor):
    [kept] = run(ExtractText("extract_text", ExtractTextConfig(extractor=extractor)), [ARTICLE])
    assert "sediment" in kept.doc["text"] and "Floods move the largest stones" in kept.doc["text"]


class FailingOnMarker:
    """An extractor that raises on one page, to exercise the sandbox's error path (module level: the
    forkserver child unpickles it)."""

    def extract(self, html: str) -> str:
        if "MARKER" in html:
            raise ValueError("cannot parse this page")
        return "text of " + html[:10]


def test_an_extractor_error_is_quarantined_and_the_sandbox_goes_on(monkeypatch):
    import transforms.web.extract_text as module

    monkeypatch.setattr(module, "make_extractor", lambda cfg: FailingOnMarker())
    got = run(ExtractText("extract_text", ExtractTextConfig()), ["<p>one</p>", "<p>MARKER</p>", "<p>three</p>"])
    assert isinstance(got[0], Kept) and isinstance(got[2], Kept)
    assert isinstance(got[1], Quarantined) and got[1].error == "extract_error: ValueError: cannot parse this page"
