"""url_filter and pii: datatrove's own URLFilter and PIIFormatter decisions, with our lists and counts."""
import json
import socket

import pytest

from transforms.core.outcomes import Dropped, Kept
from transforms.web.pii import Pii, PiiConfig
from transforms.web.url_filter import UrlFilter, UrlFilterConfig, offline_tld_extract


def doc_at(url):
    return {"id": "d", "text": "some text", "meta": json.dumps({"url": url}) if url else None}


def verdict(processor, url):
    outcome = processor.process(doc_at(url))
    return "kept" if isinstance(outcome, Kept) else outcome.reason


def test_user_lists_come_first_and_each_reason_names_its_list():
    f = UrlFilter("url_filter", UrlFilterConfig(block_domains=["bad-site.org"], block_urls=["https://ok.example/x"],
                                                block_words=["casino"], allow_domains=["pornhub.com"]))
    assert verdict(f, "https://www.wikipedia.org/wiki/River") == "kept"
    assert verdict(f, "https://news.bad-site.org/today") == "user_domain"  # a subdomain of a blocked domain
    assert verdict(f, "https://ok.example/x") == "user_url"
    assert verdict(f, "https://ok.example/best-casino-deals") == "user_word"
    assert verdict(f, "https://ok.example/casinos") == "kept"  # whole words only
    assert verdict(f, "https://xvideos.com/watch") == "blocklist_domain"  # datatrove's bundled list
    assert verdict(f, "https://pornhub.com/anything") == "kept"  # the user's allow list wins
    assert verdict(f, None) == "url_missing"


def test_decisions_match_datatrove_url_filter():
    from datatrove.data import Document
    from datatrove.pipeline.filters.url_filter import URLFilter

    reference = URLFilter()
    reference.tldextractor = offline_tld_extract()
    ours = UrlFilter("url_filter", UrlFilterConfig())
    urls = ["https://www.wikipedia.org/wiki/River", "https://xvideos.com/watch", "https://sub.xvideos.com/",
            "https://example.com/free-porn-videos", "https://example.com/sex-toys-shop", "https://example.com/news"]
    for url in urls:
        ref = reference.filter(Document(text="", id="d", metadata={"url": url}))
        expected = "kept" if ref is True else f"blocklist_{ref[1]}"
        assert verdict(ours, url) == expected, url


def test_domains_are_split_without_the_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tldextract tried the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    info = offline_tld_extract()("https://a.b.example.co.uk/path")
    assert (info.registered_domain, info.fqdn) == ("example.co.uk", "a.b.example.co.uk")


@pytest.mark.parametrize("only_public,expected_ips", [(True, 1), (False, 3)])
def test_pii_replaces_emails_and_public_ips_and_counts_them(only_public, expected_ips):
    from datatrove.pipeline.formatters import PIIFormatter

    text = "Write to jane.doe@mail.com or ops@corp.example; server 8.8.8.8, router 192.168.1.1, lo 127.0.0.1."
    outcome = Pii("pii", PiiConfig(only_public_ips=only_public)).process({"id": "d", "text": text})
    assert isinstance(outcome, Kept)
    assert outcome.doc["text"] == PIIFormatter(only_remove_public_ips=only_public).format(text)  # datatrove's output
    assert "jane.doe@mail.com" not in outcome.doc["text"] and "8.8.8.8" not in outcome.doc["text"]
    assert ("192.168.1.1" in outcome.doc["text"]) == only_public
    assert json.loads(outcome.doc["provenance"][-1]["detail"]) == {"emails": 2, "ips": expected_ips}


def test_pii_output_depends_on_the_document_alone():
    pii = Pii("pii", PiiConfig())
    first = pii.process({"id": "a", "text": "a@b.com"}).doc["text"]
    pii.process({"id": "b", "text": "c@d.com and e@f.com and 1.1.1.1"})
    assert pii.process({"id": "a", "text": "a@b.com"}).doc["text"] == first
    clean = pii.process({"id": "c", "text": "nothing here"}).doc
    assert clean["text"] == "nothing here" and not clean.get("provenance")
    assert isinstance(clean, dict) and not isinstance(clean, Dropped)
