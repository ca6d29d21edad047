"""Known Rasa 3.6 advisories, handled: a model is loaded only from the project's own trained
model, never through the HTTP API by an unauthenticated caller. The API is off by default; with
RASA_API_TOKEN every call, model loading included, needs the token."""
from __future__ import annotations

import pytest

from tests.reliability.conftest import FIGURES, http, start_servers

pytestmark = pytest.mark.e2e

API_TOKEN = "reliability-api-token-0123456789"
REMOTE_MODEL = {"model_server": {"url": "http://127.0.0.1:9/elsewhere.tar.gz"}}
REFUSED = {}


def test_with_the_api_off_nothing_loads_or_reads_models(reliable):
    attempts = [("PUT", "/model", REMOTE_MODEL), ("PUT", "/model", {"model_file": "/tmp/x.tar.gz"}),
                ("POST", "/model/train", {}), ("DELETE", "/model", None), ("GET", "/status", None),
                ("GET", "/conversations/anyone/tracker", None)]
    for method, path, body in attempts:
        status, raw, _ = http(reliable.rasa_port, method, path, body)
        assert status in (404, 405), (method, path, status, raw)
    REFUSED["api off"] = len(attempts)


@pytest.fixture(scope="module")
def with_api(trained_model, tmp_path_factory):
    srv = start_servers(trained_model, tmp_path_factory.mktemp("api"), RASA_API_TOKEN=API_TOKEN)
    yield srv
    srv.stop()


def test_with_the_api_on_every_call_needs_the_token(with_api):
    port = with_api.rasa_port
    attempts = [("PUT", "/model", REMOTE_MODEL, None), ("PUT", "/model", REMOTE_MODEL, "wrong"),
                ("PUT", "/model", {"model_file": "/tmp/x.tar.gz"}, None),
                ("POST", "/model/train", {}, None), ("DELETE", "/model", None, "wrong"),
                ("GET", "/conversations/anyone/tracker", None, None), ("GET", "/status", None, "")]
    for method, path, body, given in attempts:
        query = f"?token={given}" if given is not None else ""
        status, raw, _ = http(port, method, path + query, body)
        assert status == 401, (method, path, status, raw)
    # The operator's token works, and the model served is the project's own.
    status, _, parsed = http(port, "GET", f"/status?token={API_TOKEN}")
    assert status == 200 and parsed["model_file"].endswith("assistant.tar.gz"), parsed
    REFUSED["api on"] = len(attempts)
    FIGURES["advisories"] = (f"Rasa HTTP API: {REFUSED.get('api off', 0)} model-loading/reading calls "
                             f"refused with the API off (404/405), {len(attempts)} refused without "
                             f"the token when on (401); the model served is the project's own")
