"""Keeps the loaded knowledge base current: edited files are picked up without a restart."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Dict, Optional, Tuple

from core import settings
from core.knowledge.loader import KnowledgeError, load_knowledge
from core.knowledge.model import KnowledgeBase

logger = logging.getLogger(__name__)

DEFAULT_DIRECTORY = settings.PROJECT / "knowledge"


def knowledge_directory() -> Path:
    """The knowledge directory: $KNOWLEDGE_DIR, else the project's `knowledge/`."""
    return settings.knowledge_directory()


class KnowledgeStore:
    """Loads the knowledge base lazily and reloads it when a file changes.

    A file that fails validation is reported and the last good base stays in service, so an
    operator's typo never takes answers offline or leaves a half-loaded base.
    """

    def __init__(self, directory: Optional[Path] = None) -> None:
        self._directory = Path(directory) if directory else knowledge_directory()
        self._lock = threading.Lock()
        self._signature: Optional[Tuple] = None
        self._base: Optional[KnowledgeBase] = None
        self.last_error: Optional[KnowledgeError] = None

    def _current_signature(self) -> Tuple:
        """Each `*.yml` file's name, modification time and size, by name: read on every
        question, so one directory listing and one `stat` per file."""
        with os.scandir(self._directory) as listing:
            files = sorted((entry.name, entry) for entry in listing if entry.name.endswith(".yml"))
        return tuple((name, stat.st_mtime_ns, stat.st_size)
                     for name, entry in files for stat in (entry.stat(),))

    def get(self) -> KnowledgeBase:
        """Return the current knowledge base, reloading it first if its files changed."""
        with self._lock:
            signature = self._current_signature()
            if signature != self._signature:
                try:
                    self._base = load_knowledge(self._directory)
                    self.last_error = None
                    logger.info("Loaded knowledge base from %s", self._directory)
                except KnowledgeError as e:
                    self.last_error = e
                    if self._base is None:
                        raise
                    logger.error("Knowledge not reloaded, keeping the previous version: %s", e)
                self._signature = signature
            assert self._base is not None
            return self._base


_shared: Dict[Path, KnowledgeStore] = {}
_shared_lock = threading.Lock()


def shared_store() -> KnowledgeStore:
    """The process's one store for the knowledge directory, shared by every action."""
    directory = knowledge_directory().resolve()
    with _shared_lock:
        if directory not in _shared:
            _shared[directory] = KnowledgeStore(directory)
        return _shared[directory]
