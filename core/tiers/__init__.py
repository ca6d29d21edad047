"""Seller tiers: the rules as data, the pure engine that applies them, and their rendering."""
