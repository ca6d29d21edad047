"""The knowledge base: programme terms and tier rules, loaded from `knowledge/`."""
from core.knowledge.loader import KnowledgeError, load_knowledge
from core.knowledge.model import KnowledgeBase
from core.knowledge.store import KnowledgeStore, shared_store

__all__ = ["KnowledgeBase", "KnowledgeError", "KnowledgeStore", "load_knowledge", "shared_store"]
