"""The database fixtures (tests/database.py)."""
from tests.database import db_url, factory  # noqa: F401 - fixtures
