"""The ``url_filter`` stage: datatrove's ``URLFilter`` (FineWeb's block lists) plus the user's own lists.

Order of checks, the first match naming the reason:
1. the user's allow lists (domains, URLs): kept, whatever the block lists say;
2. the user's block lists: ``user_domain``, ``user_url``, ``user_word`` (a word of the URL);
3. datatrove's bundled lists through its own ``URLFilter.filter``: ``blocklist_domain``,
   ``blocklist_subdomain``, ``blocklist_url``, ``blocklist_hard_blacklisted``,
   ``blocklist_soft_blacklisted``, ``blocklist_blacklisted_subword`` (datatrove's names).

A document without a URL in ``meta.url`` is dropped ``url_missing``. Domains are
split with tldextract from its bundled public suffix snapshot: tldextract's
default fetches the list from the network at first use (offline, a 5 s wait and
a logged ConnectionError before it falls back), so ``offline_tld_extract`` never asks.
"""
from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field

from transforms.core.outcomes import DocProcessor, Dropped, Kept, Outcome


class UrlFilterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    use_integrated_lists: bool = Field(True, description="datatrove's bundled block lists (FineWeb's)")
    block_domains: list[str] = Field(default_factory=list, description="registered domains or full host names")
    block_urls: list[str] = Field(default_factory=list)
    block_words: list[str] = Field(default_factory=list, description="whole words of the URL (split on non-letters)")
    allow_domains: list[str] = Field(default_factory=list, description="kept whatever the block lists say")
    allow_urls: list[str] = Field(default_factory=list)
    soft_word_threshold: int = Field(2, ge=1, description="datatrove's: soft-banned words needed to drop")


def offline_tld_extract():
    """tldextract from its bundled snapshot only: no fetch, no cache writes."""
    from tldextract import TLDExtract

    return TLDExtract(suffix_list_urls=(), cache_dir=None)


def url_of(doc: dict) -> str | None:
    try:
        meta = json.loads(doc.get("meta") or "{}")
    except ValueError:
        return None
    url = meta.get("url") if isinstance(meta, dict) else None
    return url if isinstance(url, str) and url else None


class UrlFilter(DocProcessor):
    def __init__(self, label: str, cfg: UrlFilterConfig):
        self.label = label
        self.cfg = cfg
        self._filter = self._tld = self._words = None

    def setup(self) -> None:
        from datatrove.pipeline.filters.url_filter import URLFilter, normalizer

        cfg = self.cfg
        self._filter = URLFilter(soft_word_threshold=cfg.soft_word_threshold,
                                 use_integrated_lists=cfg.use_integrated_lists)
        self._tld = self._filter.tldextractor = offline_tld_extract()
        self._split = normalizer.split
        self._block_domains = {d.lower() for d in cfg.block_domains}
        self._allow_domains = {d.lower() for d in cfg.allow_domains}
        self._words = {w.lower() for w in cfg.block_words}

    def _domains(self, url: str) -> set[str]:
        info = self._tld(url)
        return {d for d in (info.registered_domain, info.fqdn) if d}

    def process(self, doc: dict) -> Outcome:
        if self._filter is None:
            self.setup()
        url = url_of(doc)
        if url is None:
            return Dropped(doc, "url_missing")
        domains = self._domains(url)
        if url in self.cfg.allow_urls or domains & self._allow_domains:
            return Kept(doc)
        if domains & self._block_domains:
            return Dropped(doc, "user_domain")
        if url in self.cfg.block_urls:
            return Dropped(doc, "user_url")
        if self._words and self._words & set(self._split(url.lower())):
            return Dropped(doc, "user_word")
        if self.cfg.use_integrated_lists:
            from datatrove.data import Document

            verdict = self._filter.filter(Document(text="", id=doc["id"], metadata={"url": url}))
            if verdict is not True and not (isinstance(verdict, tuple) and verdict[0]):
                reason = verdict[1] if isinstance(verdict, tuple) else "blocked"
                return Dropped(doc, f"blocklist_{reason}")
        return Kept(doc)
