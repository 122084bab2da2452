/* Trợ lý ảo dịch vụ công: embeddable chat widget. One tag on any page:
 *   <script src="https://<assistant-host>/widget.js" defer></script>
 * Talks to the REST channel of the host it was loaded from. Keeps the conversation id in localStorage,
 * so a reload continues the same conversation; sends one message at a time (no double sends).
 * While the conversation is with one-stop-desk staff (the bot answers nothing, or says it handed over),
 * it polls /webhooks/rest/staff-messages every 5 s and shows staff replies as "Cán bộ: …".
 * The conversation id is 128 random bits: whoever knows it can read the conversation, so it must not be guessable. */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script ? new URL(script.src, location.href).origin : "";
  var KEY = "tldvc-sender";
  var sender = localStorage.getItem(KEY);
  if (!sender) {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    sender = "web-" + Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    localStorage.setItem(KEY, sender);
  }
  var css = "" +
    "#tldvc-btn{position:fixed;right:18px;bottom:18px;z-index:99999;background:#a4161a;color:#fff;border:0;border-radius:28px;padding:12px 18px;font:600 15px system-ui,sans-serif;box-shadow:0 2px 8px rgba(0,0,0,.25);cursor:pointer}" +
    "#tldvc-box{position:fixed;right:18px;bottom:76px;z-index:99999;width:min(380px,calc(100vw - 24px));height:min(560px,calc(100vh - 100px));background:#fff;border-radius:12px;box-shadow:0 4px 24px rgba(0,0,0,.25);display:none;flex-direction:column;overflow:hidden;font:15px/1.45 system-ui,sans-serif;color:#1d2733}" +
    "#tldvc-box.open{display:flex}" +
    "#tldvc-head{background:#a4161a;color:#fff;padding:10px 14px;font-weight:600}" +
    "#tldvc-log{flex:1;overflow-y:auto;padding:12px;background:#f6f7f9}" +
    ".tldvc-m{max-width:85%;margin:6px 0;padding:8px 11px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}" +
    ".tldvc-bot{background:#fff;border:1px solid #e3e6ea}" +
    ".tldvc-me{background:#d9ecff;margin-left:auto}" +
    ".tldvc-bs{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}" +
    ".tldvc-b{border:1px solid #a4161a;color:#a4161a;background:#fff;border-radius:16px;padding:5px 11px;font-size:14px;cursor:pointer}" +
    ".tldvc-b:disabled{opacity:.5;cursor:default}" +
    "#tldvc-form{display:flex;border-top:1px solid #e3e6ea}" +
    "#tldvc-in{flex:1;border:0;padding:12px;font-size:15px;outline:none}" +
    "#tldvc-send{border:0;background:#a4161a;color:#fff;padding:0 16px;font-weight:600;cursor:pointer}" +
    "#tldvc-send:disabled{opacity:.5}";
  var style = document.createElement("style");
  style.textContent = css;
  document.head.appendChild(style);
  var btn = document.createElement("button");
  btn.id = "tldvc-btn";
  btn.type = "button";
  btn.textContent = "Hỏi trợ lý ảo";
  var box = document.createElement("div");
  box.id = "tldvc-box";
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", "Trợ lý ảo dịch vụ công");
  box.innerHTML = '<div id="tldvc-head">Trợ lý ảo dịch vụ công</div>' +
    '<div id="tldvc-log" aria-live="polite"></div>' +
    '<form id="tldvc-form"><input id="tldvc-in" autocomplete="off" maxlength="2000" placeholder="Nhập câu hỏi của bạn…" aria-label="Tin nhắn">' +
    '<button id="tldvc-send" type="submit">Gửi</button></form>';
  document.body.appendChild(btn);
  document.body.appendChild(box);
  var log = box.querySelector("#tldvc-log");
  var form = box.querySelector("#tldvc-form");
  var input = box.querySelector("#tldvc-in");
  var send = box.querySelector("#tldvc-send");
  var busy = false;
  var STAFF_KEY = "tldvc-staff-after";
  var POLL_MS = 5000;
  var staffAfter = parseFloat(localStorage.getItem(STAFF_KEY) || "0") || 0;
  var pollTimer = null;
  var polling = false;
  var withStaff = false;

  function add(text, who) {
    var div = document.createElement("div");
    div.className = "tldvc-m " + (who === "me" ? "tldvc-me" : "tldvc-bot");
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }
  function addButtons(buttons) {
    var row = document.createElement("div");
    row.className = "tldvc-bs";
    buttons.forEach(function (b) {
      var el = document.createElement("button");
      el.type = "button";
      el.className = "tldvc-b";
      el.textContent = b.title;
      el.addEventListener("click", function () {
        if (busy) return;
        row.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        talk(b.payload, b.title);
      });
      row.appendChild(el);
    });
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
  }
  function setBusy(on) {
    busy = on;
    send.disabled = on;
    input.disabled = on;
    if (!on) input.focus();
  }
  function talk(message, shown) {
    if (busy) return;
    add(shown || message, "me");
    setBusy(true);
    fetch(base + "/webhooks/rest/webhook", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: sender, message: message, metadata: { page: location.href } })
    }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    }).then(function (replies) {
      var handedOver = !replies.length;
      replies.forEach(function (m) {
        if (m.text) add(m.text, "bot");
        if (m.buttons && m.buttons.length) addButtons(m.buttons);
        if (m.text && /cán bộ/i.test(m.text)) handedOver = true;
      });
      if (handedOver) pollStaff();
    }).catch(function () {
      add("Xin lỗi, trợ lý đang bận hoặc mất kết nối. Bạn thử lại sau ít phút nhé.", "bot");
    }).then(function () { setBusy(false); });
  }
  // Staff replies: poll while the conversation is paused for staff, stop once they hand it back.
  function schedulePoll() {
    if (!pollTimer) pollTimer = setTimeout(function () { pollTimer = null; pollStaff(); }, POLL_MS);
  }
  function pollStaff() {
    if (polling) return;
    polling = true;
    fetch(base + "/webhooks/rest/staff-messages?sender=" + encodeURIComponent(sender) +
      "&after=" + encodeURIComponent(String(staffAfter))).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    }).then(function (data) {
      (data.messages || []).forEach(function (m) {
        add("Cán bộ: " + m.text, "bot");
        if (m.timestamp > staffAfter) staffAfter = m.timestamp;
      });
      localStorage.setItem(STAFF_KEY, String(staffAfter));
      if (data.paused) {
        withStaff = true;
        schedulePoll();
      } else if (withStaff) {
        withStaff = false;
        add("Cán bộ đã kết thúc hỗ trợ. Trợ lý ảo tiếp tục giúp bạn, cứ nhắn nhé.", "bot");
      }
    }).catch(function () {
      if (withStaff) schedulePoll();  // keep trying through a network hiccup
    }).then(function () { polling = false; });
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    talk(text);
  });
  var greeted = false;
  function toggle() {
    box.classList.toggle("open");
    if (box.classList.contains("open")) {
      input.focus();
      if (!greeted) { greeted = true; talk("/greet", "Xin chào"); }
    }
  }
  btn.addEventListener("click", toggle);
  // A portal can link straight to an open chat: https://portal/...#tro-ly-ao
  if (location.hash === "#tro-ly-ao") toggle();
})();
