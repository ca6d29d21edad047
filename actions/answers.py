"""An answer composed from the knowledge base, and how it is sent to the merchant."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

from rasa_sdk.executor import CollectingDispatcher

from core.knowledge.model import Source


@dataclass
class Answer:
    """Reply text (simplified; converted to the merchant's script at send time) with sources."""

    lines: List[str] = field(default_factory=list)
    sources: List[Source] = field(default_factory=list)
    status: str = ""
    # Whether the merchant should be offered a check of their own store afterwards.
    offers_status_check: bool = False
    # What was asked that the documents do not give (the reply's first line says so), if any.
    missing: str = ""

    def add(self, line: str, source: Source) -> None:
        """Add a line of the reply and cite its source (each once)."""
        if line not in self.lines:
            self.lines.append(line)
        self.cite(source)

    def cite(self, source: Source) -> None:
        """Cite a source (once)."""
        if source not in self.sources:
            self.sources.append(source)

    def citation(self) -> str:
        """Sources grouped by document; items under one heading are cited together."""
        by_document: Dict[str, Dict[str, List[str]]] = {}
        for source in self.sources:
            heading, _, item = source.section.rpartition(" ")
            items = by_document.setdefault(source.document, {}).setdefault(heading, [])
            if item not in items:
                items.append(item)
        parts = []
        for document, headings in by_document.items():
            cited = ";".join(f"{h} {'、'.join(i)}".strip() for h, i in headings.items())
            parts.append(f"{document} {cited}")
        return ";".join(parts)

    def send(self, dispatcher: CollectingDispatcher) -> None:
        """Send as the domain's `utter_answer` response."""
        dispatcher.utter_message(response="utter_answer", answer="\n".join(self.lines),
                                 source=self.citation(), status=self.status)
