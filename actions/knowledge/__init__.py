"""The knowledge base: programme terms and tier rules, loaded from `knowledge/`."""
from actions.knowledge.loader import KnowledgeError, load_knowledge
from actions.knowledge.model import KnowledgeBase
from actions.knowledge.store import KnowledgeStore, shared_store

__all__ = ["KnowledgeBase", "KnowledgeError", "KnowledgeStore", "load_knowledge", "shared_store"]
