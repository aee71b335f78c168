"""The ``pii`` stage: datatrove's ``PIIFormatter`` (FineWeb's): e-mail addresses and public IP addresses
replaced by its placeholders; private, loopback and reserved ranges left alone.

Replacements are counted with the formatter's own patterns and validator, and
recorded in provenance when there are any. datatrove cycles through its
placeholders across the documents of a process, so the placeholder a document
gets depends on what ran before it on that worker; here the cycle restarts at
every document, so a document's output depends on its text alone.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from transforms.core.outcomes import DocProcessor, Kept, Outcome, add_provenance


class PiiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    remove_emails: bool = True
    remove_ips: bool = True
    only_public_ips: bool = True


def count_matches(replacer, text: str) -> int:
    """How many matches ``replacer`` (a datatrove PIIReplacer) would replace in ``text``."""
    return sum(1 for m in replacer.regex.finditer(text) if replacer.validator is None or replacer.validator(m.group(0)))


class Pii(DocProcessor):
    def __init__(self, label: str, cfg: PiiConfig):
        self.label = label
        self.cfg = cfg
        self._formatter = None

    def setup(self) -> None:
        from datatrove.pipeline.formatters import PIIFormatter

        cfg = self.cfg
        self._formatter = PIIFormatter(remove_emails=cfg.remove_emails, remove_ips=cfg.remove_ips,
                                       only_remove_public_ips=cfg.only_public_ips)

    def process(self, doc: dict) -> Outcome:
        if self._formatter is None:
            self.setup()
        f = self._formatter
        text = doc["text"]
        emails = count_matches(f.emails_replacer, text) if f.remove_emails else 0
        ips = count_matches(f.ip_replacer, text) if f.remove_ips else 0
        if emails or ips:
            f.emails_replacer._replace_i = f.ip_replacer._replace_i = 0
            doc["text"] = f.format(text)
            add_provenance(doc, self.label, "pii_replaced", emails=emails, ips=ips)
        return Kept(doc)
