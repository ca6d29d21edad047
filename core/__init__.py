"""The assistant's domain, shared by both servers and the operator tools: who is asking
(identity), what was accessed (audit), the database and its migrations, the knowledge base and
its retrieval, handoff tickets, the tier rules and their engine, script conversion, rate limits,
the names both servers exchange (contract) and the settings read from the environment.

Nothing here imports Rasa or rasa-sdk: `bot/` (inside the Rasa server) and `actions/` (the
action server) both build on it.
"""
