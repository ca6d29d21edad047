"""Merchant data: SQLAlchemy models, the engine and session factory, migrations."""
