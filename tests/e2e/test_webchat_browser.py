"""The chat page in a real browser: Debian's chromium, driven by Playwright.

A merchant opens the page with their token, asks in simplified and traditional Chinese,
clicks suggestion buttons, is handed to a human agent whose messages appear in the page,
and cannot make the page run markup. A screenshot of the conversation is saved.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List

import pytest

from core import script
from tests.e2e.conftest import HEADER, PROJECT, REPORT
from tests.e2e.test_handoff_http import Desk, Merchant, ticket_number
from tests.e2e.test_tier_status_http import token

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
# The widget the Rasa server serves (bot/channels/webchat.py), installed by `make web`.
WIDGET = PROJECT / "web" / "node_modules" / "rasa-webchat" / "lib" / "index.js"
# Debian's chromium, headless, talking to nothing but the servers under test.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
REPLY_SECONDS = 60.0
XSS = "<img src=x onerror=alert(1)>"


def _require_browser() -> None:
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} missing (`make test-packages` installs Debian's chromium)")
    if not WIDGET.is_file():
        problems.append(f"{WIDGET.relative_to(PROJECT)} missing (`make web` installs it from npm)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("Python package playwright missing (requirements.lock)")
    if problems:
        if os.environ.get("CI"):
            pytest.fail("the web chat browser test needs " + "; ".join(problems))
        pytest.skip("web chat browser test skipped outside CI: " + "; ".join(problems))


@pytest.fixture(scope="session")
def browser_installed() -> None:
    """Checked before the servers start, so that a missing browser fails fast."""
    _require_browser()


@pytest.fixture(scope="module")
def browser(browser_installed):
    """Headless chromium, for this module only (Playwright runs its own event loop)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def metrics(servers, tmp_path_factory):
    """Metrics of the merchants who chat in these tests."""
    folder = tmp_path_factory.mktemp("webchat-import")
    (folder / "cat.csv").write_text("l2_category,snad_dispute_avg\n女装,1.2\n", encoding="utf-8")
    (folder / "m.csv").write_text(
        HEADER + "\nW9101,网页好物,女装,2026-11-21,1,8,83.5,0.9,91.0,70,0,0,0,0,1,,silver\n",
        encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "actions.cli", "--database-url",
                             servers.database_url, "import-metrics", str(folder / "m.csv"),
                             "--categories", str(folder / "cat.csv")],
                            cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return servers


class ChatPage:
    """The chat page in one browser tab, as a merchant uses it."""

    def __init__(self, browser, servers, bearer: str = "", locale: str = "zh-CN") -> None:
        self.context = browser.new_context(viewport={"width": 900, "height": 1300},
                                           locale=locale)
        self.page = self.context.new_page()
        self.dialogs: List[str] = []
        self.errors: List[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        url = f"http://127.0.0.1:{servers.rasa_port}/webhooks/webchat/"
        self.page.goto(url + (f"#token={bearer}" if bearer else ""))

    def close(self) -> None:
        self.context.close()

    def replies(self) -> List[str]:
        return self.page.locator(".rw-from-response .rw-message").all_inner_texts()

    def mine(self) -> List[str]:
        return self.page.locator(".rw-from-client .rw-message").all_inner_texts()

    def wait_for(self, found: Callable[[List[str]], bool], what: str,
                 seconds: float = REPLY_SECONDS) -> List[str]:
        deadline = time.monotonic() + seconds
        while True:
            replies = self.replies()
            if found(replies):
                return replies
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {seconds:.0f} s; page shows: {replies}")
            self.page.wait_for_timeout(250)

    def new_replies(self, before: int, expect: str, seconds: float = REPLY_SECONDS) -> str:
        """The replies after the first `before`, once one of them contains `expect`."""
        replies = self.wait_for(lambda r: any(expect in t for t in r[before:]),
                                f"reply containing {expect!r}", seconds)
        return "\n".join(replies[before:])

    def ask(self, text: str, expect: str) -> str:
        before = len(self.replies())
        box = self.page.locator(".rw-new-message")
        box.fill(text)
        box.press("Enter")
        return self.new_replies(before, expect)

    def click(self, title: str, expect: str) -> str:
        before = len(self.replies())
        self.page.locator(".rw-replies .rw-reply", has_text=title).click()
        return self.new_replies(before, expect)


def test_merchant_asks_in_both_scripts_and_clicks_a_suggestion(browser_installed, browser, metrics,
                                                                tmp_path):
    chat = ChatPage(browser, metrics, token("W9101"))
    try:
        chat.page.locator(".rw-new-message").wait_for(timeout=30_000)
        assert "W9101" in chat.page.locator("#who").inner_text()
        # The token is not left in the address bar.
        assert "token" not in chat.page.url

        gold = chat.ask("金牌每个月有几个橱窗?", "3个橱窗")
        assert "来源" in gold
        silver = chat.ask("銀牌每個月有幾個櫥窗?", "2個櫥窗")
        assert script.detect_script(silver) in (script.TAIWAN, script.HONG_KONG)
        assert "来源" not in silver and "來源" in silver

        menu = chat.ask("你能做什么?", "商家助手")
        titles = chat.page.locator(".rw-replies .rw-reply").all_inner_texts()
        assert "我离金牌还差多少?" in titles and "转人工客服" in titles, (menu, titles)
        # The button's payload asks for the merchant's own status: the identity comes from
        # the page's token, through the channel's seal.
        own = chat.click("我离金牌还差多少?", "72h上网率")
        assert "您是83.5%" in own and "差1.5%" in own
        assert chat.mine()[-1] == "我离金牌还差多少?"

        # Markup in a message is shown as text, never run.
        before = len(chat.replies())
        box = chat.page.locator(".rw-new-message")
        box.fill(XSS)
        box.press("Enter")
        chat.wait_for(lambda r: len(r) > before, "reply to the markup message")
        chat.page.wait_for_timeout(1000)
        assert chat.mine()[-1] == XSS
        assert chat.page.locator("#rw-messages img").count() == 0
        assert chat.dialogs == [] and chat.errors == []

        shot = tmp_path / "webchat.png"
        chat.page.screenshot(path=str(shot))
        print(f"\nweb chat screenshot: {shot}")
        assert shot.stat().st_size > 10_000
        REPORT["webchat"] = (f"web chat in chromium: both scripts answered, suggestion clicked, "
                             f"markup not run; screenshot {shot}")
    finally:
        chat.close()


def test_handoff_in_the_page_agent_messages_arrive_by_themselves(browser_installed, browser,
                                                                servers):
    chat = ChatPage(browser, servers, token("W9102"))
    desk = Desk(servers, "agent-web")
    try:
        chat.page.locator(".rw-new-message").wait_for(timeout=30_000)
        chat.ask("qwpeorituy zmxncbv", "")
        offer = chat.ask("lkjhg asdfpoiu", "转接人工客服")
        titles = chat.page.locator(".rw-replies .rw-reply").all_inner_texts()
        assert titles == ["转人工客服", "不用了"], offer
        created = chat.click("转人工客服", "工单号")
        number = ticket_number(created)

        status, detail = desk("GET", f"/tickets/{number}")
        assert status == 200
        # The action server accepted the identity the web chat sealed.
        assert detail["ticket"]["merchant_id"] == "W9102"
        assert detail["ticket"]["channel"] == "webchat"

        assert desk("POST", f"/tickets/{number}/claim")[0] == 200
        assert desk("POST", f"/tickets/{number}/messages",
                    {"text": "您好,我是客服小王,请问有什么可以帮您?"})[0] == 200
        before = len(chat.replies())
        # Nobody types: the page receives the agent's message on its own.
        chat.new_replies(before, "我是客服小王", seconds=30)
        # Passed on once: the same merchant's other channel gets nothing more.
        assert Merchant(servers, "W9102").poll() == []

        assert desk("POST", f"/tickets/{number}/handback")[0] == 200
        chat.new_replies(before, "继续为您服务", seconds=30)
        assert "3个橱窗" in chat.ask("金牌每个月有几个橱窗?", "3个橱窗")
    finally:
        chat.close()


def test_the_chat_page_fits_a_phones_screen(browser_installed, browser, servers):
    chat = ChatPage(browser, servers, token("W9106"))
    try:
        chat.page.set_viewport_size({"width": 390, "height": 844})
        chat.wait_for(lambda r: any("我是商家助手" in t for t in r), "the greeting", 30)
        assert chat.page.evaluate("() => document.documentElement.scrollWidth") <= 390
        assert chat.page.locator(".rw-new-message").is_visible()
    finally:
        chat.close()


@pytest.mark.parametrize("locale, greeting, example", [
    ("zh-CN", "您好!我是商家助手", "金牌每个月有几个橱窗?"),
    ("zh-TW", "速賣通金銀牌", "金牌每個月有幾個櫥窗?"),
    ("zh-HK", "速賣通金銀牌", "金牌每個月有幾個櫥窗?"),
])
def test_the_window_opens_with_a_greeting_and_suggestions(browser_installed, browser, servers,
                                                          locale, greeting, example):
    chat = ChatPage(browser, servers, token(f"W93{len(locale)}{locale[-1]}"), locale=locale)
    try:
        # Before the merchant types anything: the greeting in the browser's script, examples
        # to click, and no error notice.
        replies = chat.wait_for(lambda r: any(greeting in t for t in r), "the greeting", 30)
        chat.page.wait_for_timeout(500)
        replies = chat.replies()
        assert not any("只能发送" in t or "只能發送" in t for t in replies), replies
        titles = chat.page.locator(".rw-replies .rw-reply").all_inner_texts()
        assert example in titles and len(titles) == 4, titles
        # An example is answered (its payload was offered by the greeting).
        answer = chat.click(example, "櫥窗" if locale != "zh-CN" else "橱窗")
        assert "3个橱窗" in answer or "3個櫥窗" in answer, answer
        assert chat.errors == []
    finally:
        chat.close()


def test_an_agents_message_is_marked_as_from_a_person(browser_installed, browser, servers):
    chat = ChatPage(browser, servers, token("W9105"))
    desk = Desk(servers, "agent-mark")
    try:
        chat.page.locator(".rw-new-message").wait_for(timeout=30_000)
        number = ticket_number(chat.ask("转人工", "工单号"))
        # The assistant was shown typing while it worked on the message.
        assert int(chat.page.locator("#typing").get_attribute("data-shown") or 0) >= 1
        assert chat.page.locator("#typing").is_hidden()
        # A banner says the merchant waits for a person, then that one is answering.
        banner = chat.page.locator("#handoff")
        banner.filter(has_text="正在等待客服接入").wait_for(timeout=10_000)
        assert str(number) in banner.inner_text()
        assert desk("POST", f"/tickets/{number}/claim")[0] == 200
        banner.filter(has_text="人工客服正在为您服务").wait_for(timeout=10_000)
        before = len(chat.replies())
        assert desk("POST", f"/tickets/{number}/messages", {"text": "您好,我是客服小周"})[0] == 200
        arrived = chat.new_replies(before, "客服小周", seconds=30)
        assert "【人工客服】您好,我是客服小周" in arrived
        assert desk("POST", f"/tickets/{number}/handback")[0] == 200
        banner.wait_for(state="hidden", timeout=10_000)
    finally:
        chat.close()


def test_a_suggestion_with_entities_is_answered(browser_installed, browser, servers):
    chat = ChatPage(browser, servers, token("W9104"))
    try:
        chat.page.locator(".rw-new-message").wait_for(timeout=30_000)
        chat.wait_for(lambda r: any("我是商家助手" in t for t in r), "the greeting", 30)
        chat.ask("你能做什么?", "不是真人")
        # The payload names the tier, benefit and aspect: the answer is the fact itself.
        reply = chat.click("金牌每个月有几个橱窗?", "橱窗")
        assert "3个橱窗" in reply and "工单号" not in reply, reply
    finally:
        chat.close()


def test_without_a_valid_token_nothing_is_answered(browser_installed, browser, servers):
    chat = ChatPage(browser, servers)
    try:
        assert chat.page.locator("#signin").is_visible()
        assert chat.page.locator(".rw-new-message").count() == 0
    finally:
        chat.close()
    for bearer in (token("W9103", hours=-1), token("W9103", key="another-secret-of-32-bytes-at-least")):
        chat = ChatPage(browser, servers, bearer)
        try:
            # Told to sign in again, in the script of the message; nothing is answered.
            reply = chat.ask("金牌每個月有幾個櫥窗?", "您還沒有")
            assert "已過期" in reply and "櫥窗" not in reply
        finally:
            chat.close()
