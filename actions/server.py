"""The action server: rasa-sdk's, answering only the Rasa server (`python -m actions.server`).

Every call but the health check must carry the shared token ($ACTION_SERVER_TOKEN) in the
`X-Action-Token` header, which the Rasa server sends from endpoints.yml. Without a configured
token the server does not start: a reachable action server would otherwise hand anyone the
actions, and through them the database.
"""
from __future__ import annotations

import asyncio
import ctypes
import gc
import hmac
import logging
import sys
from typing import List, Optional

from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app, create_argument_parser
from sanic import Sanic, response
from sanic.request import Request

from core import logsafe, settings
from core.audit import record_refusal
from core.db.session import shared_factory
from core.knowledge import KnowledgeError, shared_store
from core.knowledge.retrieval import retriever_for, share_default_dictionary, share_parts_of_speech

logger = logging.getLogger(__name__)
TOKEN_HEADER = "X-Action-Token"
OPEN_PATHS = ("/health",)


def action_token() -> Optional[str]:
    """The shared token ($ACTION_SERVER_TOKEN); None when not configured."""
    return settings.action_server_token()


def protect(app: Sanic, token: str) -> Sanic:
    """Refuse (401) every request without the token, except the health check."""
    expected = token.encode()

    @app.middleware("request")
    async def require_token(request: Request):
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get(TOKEN_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            logger.warning("action server refused a call to %s without a valid token", request.path)
            await asyncio.to_thread(record_refusal, "action_server",
                                    f"{request.method} {request.path[:100]}: missing or wrong token",
                                    source=request.remote_addr or request.ip or None)
            return response.json({"error": "missing or wrong action server token"}, status=401)
        return None

    return app


def warm_up() -> None:
    """Load at start what the first turns would otherwise load: the knowledge base and the
    database (schema checked, engine made). Neither failing stops the server: a broken
    knowledge file is reported on use, and an unreachable database is tried again on use.
    Then jieba's parts of speech are keyed by the shared dictionary's words, and the memory
    loading freed is given back. (The script converters are built on first use here: the
    action server converts only tier alerts and reports, and all of them cost 44 MiB.)"""
    # jieba's own instance and the ranking read one copy of its dictionary (it changes
    # neither).
    share_default_dictionary()
    try:
        # The retrieval index too: building it loads jieba's dictionary (about a second).
        retriever_for(shared_store().get())
    except KnowledgeError as e:
        logger.error("knowledge base not loaded at start: %s", e)
    try:
        shared_factory()
    except Exception as e:  # noqa: BLE001 - any driver error; tier status retries on use
        logger.warning("database not reachable at start (%s: %s); tier status and handoff "
                       "will try again when asked", e.__class__.__name__, str(e)[:200])
    share_parts_of_speech()
    return_freed_memory()


def return_freed_memory() -> bool:
    """Give back to the system the memory that loading freed (the tables `share_parts_of_speech`
    replaced): glibc keeps freed memory for the process until asked (`malloc_trim`). True when
    asked; on a C library without it, nothing happens."""
    gc.collect()
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point (the same options as `python -m rasa_sdk`)."""
    args = create_argument_parser().parse_args(argv)
    logsafe.install()  # a client's text cannot forge a log line
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file,
                                 args.loglevel, args.logging_config_file)
    utils.update_sanic_log_level()
    token = action_token()
    if not token:
        print("error: set ACTION_SERVER_TOKEN (shared with the Rasa server's endpoints.yml)",
              file=sys.stderr)
        return 1
    app = protect(create_app(args.actions, cors_origins=args.cors), token)
    warm_up()
    host = settings.action_server_host()
    app.run(host, args.port, workers=utils.number_of_sanic_workers())
    return 0


if __name__ == "__main__":
    sys.exit(main())
