// The agent console: sign in, the live queue, one ticket at a time. Talks to the desk API
// next to it (/webhooks/agent/...) with the session cookie; every change carries the
// session's CSRF token, which only this script holds (in memory).
(function () {
  "use strict";
  var POLL_MS = 1000; // the queue
  var TICKET_POLL_MS = 3000; // the ticket shown (its transcript)
  var ticketReadAt = 0;
  var PAGE = 20;
  var STATUS = { open: "待处理", claimed: "处理中", closed: "已关闭" };
  var REASON = { requested: "商家要求人工", repeated_failure: "多次没听懂", assistant_unavailable: "助手不可用" };
  var FROM = { merchant: "商家", assistant: "助手", agent: "客服", system: "系统" };
  var csrf = null;
  var me = null;
  var offset = 0;
  var current = null; // the ticket shown
  var known = {}; // ticket ids seen in the queue, to announce new ones
  var timer = null;

  function $(id) { return document.getElementById(id); }

  function text(el, value) { el.textContent = value == null ? "" : String(value); return el; }

  function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
    return fetch(path, { method: method, headers: headers, credentials: "same-origin",
                         body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (r.status === 401) { signedOut("登录已过期,请重新登录。"); }
          if (!r.ok) { var e = new Error(data.error || ("HTTP " + r.status)); e.status = r.status; throw e; }
          return data;
        });
      });
  }

  function waiting(iso) {
    var seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) return seconds + " 秒";
    if (seconds < 3600) return Math.floor(seconds / 60) + " 分钟";
    return Math.floor(seconds / 3600) + " 小时 " + Math.floor(seconds % 3600 / 60) + " 分";
  }

  function signedIn(session) {
    me = session.agent;
    csrf = session.csrf;
    text($("me"), "已登录:" + me);
    $("sign-out").hidden = false;
    $("signin").hidden = true;
    $("desk").hidden = false;
    poll();
  }

  function signedOut(message) {
    me = null; csrf = null; current = null; known = {};
    if (timer) { clearTimeout(timer); timer = null; }
    text($("me"), "");
    $("sign-out").hidden = true;
    $("desk").hidden = true;
    $("ticket").hidden = true;
    $("signin").hidden = false;
    text($("signin-error"), message || "");
    $("name").focus();
  }

  function query() {
    var q = "?limit=" + PAGE + "&offset=" + offset + "&status=" + encodeURIComponent($("filter-status").value);
    if ($("filter-channel").value) q += "&channel=" + encodeURIComponent($("filter-channel").value);
    if ($("filter-reason").value) q += "&reason=" + encodeURIComponent($("filter-reason").value);
    return q;
  }

  function renderQueue(data) {
    var body = $("tickets");
    body.textContent = "";
    var fresh = [];
    data.tickets.forEach(function (t) {
      if (!known[t.id]) { known[t.id] = true; fresh.push(t.id); }
      var row = document.createElement("tr");
      row.dataset.ticket = t.id;
      if (current === t.id) row.className = "current";
      var cell = document.createElement("td");
      var open = document.createElement("button");
      open.type = "button";
      open.className = "open-ticket";
      text(open, "#" + t.id);
      open.setAttribute("aria-label", "打开工单 " + t.id);
      open.addEventListener("click", function () { show(t.id); });
      cell.appendChild(open);
      row.appendChild(cell);
      [waiting(t.created_at), t.channel,
       t.merchant_id ? t.merchant_id : "未登录访客",
       REASON[t.reason] || t.reason,
       (STATUS[t.status] || t.status) + (t.claimed_by ? "(" + t.claimed_by + ")" : "")
      ].forEach(function (value) { row.appendChild(text(document.createElement("td"), value)); });
      body.appendChild(row);
    });
    $("queue-empty").hidden = data.tickets.length > 0;
    text($("queue-count"), "(" + data.total + ")");
    text($("page"), data.total ? (offset + 1) + "–" + (offset + data.tickets.length) + " / " + data.total : "");
    $("prev").disabled = offset === 0;
    $("next").disabled = data.next_offset == null;
    if (fresh.length && Object.keys(known).length > fresh.length) {
      text($("queue-news"), "新工单:" + fresh.map(function (n) { return "#" + n; }).join("、"));
    }
  }

  function poll() {
    if (timer) clearTimeout(timer);
    if (!me) return;
    api("GET", "tickets" + query()).then(renderQueue).catch(function () {})
      .then(function () { if (current && Date.now() - ticketReadAt >= TICKET_POLL_MS) return refresh(true); })
      .catch(function () {})
      .then(function () { if (me) timer = setTimeout(poll, POLL_MS); });
  }

  function line(entry) {
    var item = document.createElement("li");
    item.className = "from-" + entry.from;
    var who = entry.from === "agent" && entry.agent ? "客服 " + entry.agent : (FROM[entry.from] || entry.from);
    var head = text(document.createElement("span"), who + " · " + new Date(entry.at * 1000).toLocaleTimeString());
    head.className = "who";
    item.appendChild(head);
    if (entry.event) {
      item.appendChild(text(document.createElement("p"), entry.event === "paused" ? "转人工" : "交还助手"));
      return item;
    }
    item.appendChild(text(document.createElement("p"), entry.text));
    if (entry.simplified) {
      var s = text(document.createElement("p"), "简体:" + entry.simplified);
      s.className = "simplified";
      item.appendChild(s);
    }
    return item;
  }

  function renderTicket(data, kept) {
    var t = data.ticket;
    text($("ticket-title"), "工单 #" + t.id + " · " + (STATUS[t.status] || t.status));
    text($("ticket-meta"), [t.merchant_id ? "商家 " + t.merchant_id : "未登录访客", "渠道 " + t.channel,
      REASON[t.reason] || t.reason, t.script === "zh-TW" || t.script === "zh-HK" ? "繁体" : "简体",
      t.claimed_by ? "认领人 " + t.claimed_by : "未认领"].join(" · "));
    var s = data.summary || {};
    var asked = (s.questions || []).length;
    var open = s.unanswered || [];
    text($("summary"), ["商家问了 " + asked + " 个问题", open.length ? "没答上:" + open.join(" / ") : "都已回答",
      s.topic ? "话题:" + (s.topic_name || s.topic) : ""].filter(Boolean).join(";"));
    if (!kept) { // a re-read keeps the tier status read when the ticket was opened
      $("status-box").hidden = !data.tier_status;
      text($("status-card"), data.tier_status || "");
    }
    var list = $("transcript");
    list.textContent = "";
    data.transcript.forEach(function (entry) { list.appendChild(line(entry)); });
    var mine = t.status === "claimed" && t.claimed_by === me;
    $("claim").hidden = t.status !== "open";
    $("delegate").disabled = !mine;
    $("reply-form").hidden = !mine;
    $("close-form").hidden = !mine;
    $("ticket").dataset.status = t.status;
    $("ticket").dataset.claimedBy = t.claimed_by || "";
  }

  function refresh(kept) {
    var id = current;
    ticketReadAt = Date.now();
    return api("GET", "tickets/" + id + (kept ? "?refresh=1" : "")).then(function (data) {
      // Another ticket opened meanwhile: this answer is stale, never shown beside it.
      if (id === current) renderTicket(data, kept);
    });
  }

  function suggestions() {
    var id = current;
    var list = $("suggestions");
    list.textContent = "";
    return api("GET", "tickets/" + id + "/suggestions").then(function (data) {
      if (id !== current) return;
      text($("suggest-for"), data.question ? "(针对:" + data.question + ")" : "");
      data.suggestions.forEach(function (s) {
        var item = document.createElement("li");
        item.appendChild(text(document.createElement("strong"), s.name));
        var body = text(document.createElement("p"), s.text);
        body.className = "suggestion-text";
        item.appendChild(body);
        var send = text(document.createElement("button"), "发送此答案");
        send.type = "button";
        send.className = "send-suggestion";
        send.addEventListener("click", function () { sendText(s.text); });
        item.appendChild(send);
        list.appendChild(item);
      });
    }).catch(function () {});
  }

  function notice(message) { text($("notice"), message); }

  function failed(e) { notice("操作失败:" + e.message); }

  function show(id) {
    current = id;
    $("ticket").hidden = false;
    notice("");
    refresh().then(function () { $("ticket-title").focus(); }).catch(failed);
    suggestions();
  }

  function sendText(value) {
    return api("POST", "tickets/" + current + "/messages", { text: value })
      .then(function (r) { notice("已发送:" + r.sent); return refresh(true); }).catch(failed);
  }

  $("signin-form").addEventListener("submit", function (event) {
    event.preventDefault();
    text($("signin-error"), "");
    api("POST", "session", { name: $("name").value.trim(), password: $("password").value })
      .then(function (session) { $("password").value = ""; signedIn(session); })
      .catch(function (e) {
        text($("signin-error"), e.status === 401 ? "账号或密码不对。" :
          e.status === 429 ? "失败次数太多,请15分钟后再试。" : "登录失败:" + e.message);
      });
  });

  $("sign-out").addEventListener("click", function () {
    api("DELETE", "session").catch(function () {}).then(function () { signedOut(""); });
  });

  ["filter-status", "filter-channel", "filter-reason"].forEach(function (id) {
    $(id).addEventListener("change", function () { offset = 0; poll(); });
  });
  $("prev").addEventListener("click", function () { offset = Math.max(0, offset - PAGE); poll(); });
  $("next").addEventListener("click", function () { offset += PAGE; poll(); });

  $("claim").addEventListener("click", function () {
    api("POST", "tickets/" + current + "/claim").then(function () { notice("已认领。"); return refresh(true); })
      .catch(function (e) {
        notice(e.status === 409 ? "这个工单已被其他客服认领。" : "认领失败:" + e.message);
        refresh(true);
      });
  });

  $("delegate").addEventListener("click", function () {
    api("POST", "tickets/" + current + "/delegate", {})
      .then(function (r) { notice("助手已回答:" + r.answers.join(" / ")); return refresh(true); }).catch(failed);
  });

  $("reply-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var value = $("reply").value.trim();
    if (!value) { notice("请先输入回复。"); return; }
    sendText(value).then(function () { $("reply").value = ""; });
  });

  $("close-form").addEventListener("submit", function (event) {
    event.preventDefault();
    api("POST", "tickets/" + current + "/handback", { note: $("note").value.trim() || null })
      .then(function () { notice("已交还助手,工单已关闭。"); $("note").value = ""; return refresh(true); })
      .catch(failed);
  });

  // The operations view: the same figures as `python -m actions.cli report`.
  var REASONS_SHOWN = REASON;

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  function bars(box, rows, total) {
    box.textContent = "";
    rows.forEach(function (row) {
      var line = document.createElement("div");
      line.className = "row";
      line.appendChild(text(document.createElement("span"), row[0]));
      var bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = (total ? Math.round(100 * row[1] / total) : 0) + "%";
      line.appendChild(bar);
      line.appendChild(text(document.createElement("span"), row[2]));
      box.appendChild(line);
    });
  }

  function renderReport(r) {
    var figures = $("ops-figures");
    figures.textContent = "";
    [["会话", r.conversations], ["问题", r.questions], ["已回答", r.answered],
     ["回答率", (100 * r.answered_rate).toFixed(1) + "%"], ["澄清", r.clarified],
     ["澄清率", (100 * r.clarification_rate).toFixed(1) + "%"], ["转人工会话", r.handed_off],
     ["转人工率", (100 * r.handoff_rate).toFixed(1) + "%"]].forEach(function (pair) {
      var cell = document.createElement("div");
      cell.dataset.figure = pair[0];
      cell.appendChild(text(document.createElement("dt"), pair[0]));
      cell.appendChild(text(document.createElement("dd"), pair[1]));
      figures.appendChild(cell);
    });
    bars($("ops-rates"), [["回答", r.answered, (100 * r.answered_rate).toFixed(1) + "%"],
      ["澄清", r.clarified, (100 * r.clarification_rate).toFixed(1) + "%"],
      ["其他(没答上)", r.questions - r.answered - r.clarified, ""]], r.questions);
    var programmes = Object.keys(r.programmes).map(function (k) { return [k, r.programmes[k], String(r.programmes[k])]; });
    bars($("ops-programmes"), programmes, programmes.reduce(function (a, p) { return Math.max(a, p[1]); }, 0));
    var reasons = $("ops-reasons");
    reasons.textContent = "";
    Object.keys(r.handoff_reasons).forEach(function (k) {
      reasons.appendChild(text(document.createElement("li"), (REASONS_SHOWN[k] || k) + ":" + r.handoff_reasons[k]));
    });
    var list = $("ops-unanswered");
    list.textContent = "";
    r.unanswered.forEach(function (u) {
      list.appendChild(text(document.createElement("li"), u.question + "(" + u.count + " 次)"));
    });
  }

  function loadReport() {
    var q = "report?since=" + encodeURIComponent($("ops-since").value);
    if ($("ops-until").value) q += "&until=" + encodeURIComponent($("ops-until").value);
    text($("ops-error"), "");
    return api("GET", q).then(renderReport).catch(function (e) { text($("ops-error"), "报表读取失败:" + e.message); });
  }

  function view(ops) {
    $("ops").hidden = !ops;
    $("queue").hidden = ops;
    $("ticket").hidden = ops || !current;
    $("show-ops").setAttribute("aria-pressed", String(ops));
    $("show-queue").setAttribute("aria-pressed", String(!ops));
    if (ops) {
      if (!$("ops-since").value) {
        var week = new Date(Date.now() - 6 * 86400000);
        $("ops-since").value = isoDay(week);
      }
      loadReport();
    }
  }

  $("show-ops").addEventListener("click", function () { view(true); });
  $("show-queue").addEventListener("click", function () { view(false); });
  $("ops-form").addEventListener("submit", function (event) { event.preventDefault(); loadReport(); });

  $("ticket-title").tabIndex = -1;
  api("GET", "session").then(signedIn).catch(function () { signedOut(""); });
})();
