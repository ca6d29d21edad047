// Mounts the rasa-webchat widget with the merchant's token. The token comes from the
// address's fragment (#token=..., which browsers never send to a server, unlike ?token=), is
// kept for this tab only, and is removed from the address bar; the server verifies it with
// every message.
(function () {
  "use strict";
  var TOKEN_KEY = "merchant-assistant-token";
  var WIDGET_SESSION_KEY = "chat_session"; // the widget's own history of this tab

  function fromAddress() {
    var value = new URLSearchParams(location.hash.replace(/^#/, "")).get("token");
    return value ? value.trim() : null;
  }

  function subject(token) {
    // For display only; the server checks the signature.
    try {
      var body = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      var claims = JSON.parse(atob(body + "===".slice((body.length + 3) % 4)));
      return typeof claims.sub === "string" ? claims.sub : null;
    } catch (e) {
      return null;
    }
  }

  function show(id) {
    document.getElementById(id).hidden = false;
    document.getElementById("chat").hidden = true;
  }

  var token = fromAddress();
  if (token) {
    if (sessionStorage.getItem(TOKEN_KEY) !== token) {
      // Another sign-in: do not show the previous conversation of this tab.
      sessionStorage.removeItem(WIDGET_SESSION_KEY);
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname);
  } else {
    token = sessionStorage.getItem(TOKEN_KEY);
  }
  if (!token) {
    show("signin");
    return;
  }
  if (!window.WebChat || typeof window.WebChat.default !== "function") {
    show("unavailable");
    return;
  }
  var who = subject(token);
  if (who) document.getElementById("who").textContent = "已登录:" + who;
  var base = location.pathname.replace(/[^/]*$/, "");
  window.WebChat.default({
    socketUrl: location.origin,
    socketPath: base + "socket.io/",
    // The window opens with the assistant's greeting and suggestions (in traditional
    // characters for a zh-TW or zh-HK browser); the server answers this payload itself.
    initPayload: "/chat_opening",
    customData: { token: token, language: navigator.language || "" },
    title: "商家助手",
    inputTextFieldHint: "请输入您的问题…",
    connectingText: "正在连接…",
    embedded: true,
    withRules: false,
    showCloseButton: false,
    showFullScreenButton: false,
    hideWhenNotConnected: false,
    params: { storage: "session" }
  }, document.getElementById("chat"));

  // While the assistant works on a message: "typing", until its reply shows (or 30 s pass).
  var chat = document.getElementById("chat");
  var typing = document.getElementById("typing");
  var traditional = /^zh-(tw|hk|mo|hant)/i.test(navigator.language || "");
  typing.textContent = traditional ? "助手正在輸入…" : "助手正在输入…";
  var typingTimer = null;
  function replies() { return chat.querySelectorAll(".rw-from-response").length; }
  var seen = 0;
  function stopTyping() {
    typing.hidden = true;
    if (typingTimer) { clearTimeout(typingTimer); typingTimer = null; }
  }
  function startTyping() {
    seen = replies();
    typing.hidden = false;
    typing.dataset.shown = String(Number(typing.dataset.shown || 0) + 1);
    if (typingTimer) clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 30000);
  }
  chat.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.classList.contains("rw-new-message") && event.target.value.trim()) {
      startTyping();
    }
  }, true);
  chat.addEventListener("click", function (event) {
    if (event.target.closest(".rw-send, .rw-reply")) startTyping();
  }, true);

  // Whether a person has the conversation: a banner while waiting for one and while they answer.
  var banner = document.getElementById("handoff");
  function checkHandoff() {
    fetch(base + "state", { headers: { "Authorization": "Bearer " + token } })
      .then(function (r) { return r.ok ? r.json() : { handoff: null }; })
      .then(function (state) {
        banner.hidden = !state.handoff;
        banner.textContent = state.handoff ? state.handoff.text : "";
      })
      .catch(function () {});
  }
  var counted = 0;
  new MutationObserver(function () {
    var now = replies();
    if (now === counted) return;
    counted = now;
    if (!typing.hidden && now > seen) stopTyping();
    checkHandoff(); // a new reply may be the ticket's number or the agent's first message
  }).observe(chat, { childList: true, subtree: true });
  checkHandoff();
  setInterval(checkHandoff, 3000);
})();
