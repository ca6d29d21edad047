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
})();
