"""The ``pii`` stage: datatrove's ``PIIFormatter`` (FineWeb's): e-mail addresses and public IP addresses
replaced by its placeholders; private, loopback and reserved ranges left alone.

Replacements use the formatter's own patterns, validator and placeholders, and
are counted in provenance when there are any. datatrove cycles through its
placeholders across the documents of a process, so the placeholder a document
gets depends on what ran before it on that worker; here the cycle restarts at
every document (``replace_cycling``), so a document's output depends on its
text alone.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from transforms.core.outcomes import DocProcessor, Kept, Outcome, add_provenance


class PiiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    remove_emails: bool = True
    remove_ips: bool = True
    only_public_ips: bool = True


def replace_cycling(replacer, text: str) -> tuple[str, int]:
    """``text`` with ``replacer``'s matches (datatrove's PIIReplacer: its regex, validator and placeholders)
    replaced, the placeholder cycle starting afresh in this text; and the number replaced. Ours, not
    ``PIIReplacer.replace``, whose cycle position is shared by every document the process formats."""
    count = 0

    def placeholder(match) -> str:
        nonlocal count
        if replacer.validator is not None and not replacer.validator(match.group(0)):
            return match.group(0)
        count += 1
        return replacer.replacements[(count - 1) % len(replacer.replacements)]

    return replacer.regex.sub(placeholder, text), count


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
        text, emails, ips = doc["text"], 0, 0
        if f.remove_emails:  # e-mails first, then IPs: PIIFormatter.format's order
            text, emails = replace_cycling(f.emails_replacer, text)
        if f.remove_ips:
            text, ips = replace_cycling(f.ip_replacer, text)
        if emails or ips:
            doc["text"] = text
            add_provenance(doc, self.label, "pii_replaced", emails=emails, ips=ips)
        return Kept(doc)
