/* Trợ lý ảo dịch vụ công: embeddable chat widget. One tag on any portal page:
 *   <script src="https://<assistant-host>/widget.js" defer></script>
 * Options, all optional, as data- attributes on that tag:
 *   data-title="Trợ lý ảo dịch vụ công"   panel title          data-color="#a4161a"     launcher and header colour
 *   data-position="right" | "left"                             data-greeting="…"         first message shown (else the bot greets)
 *   data-open="true"       open on load (also: a link to #tro-ly-ao opens it)
 *   data-idle-minutes="30" what the browser keeps is forgotten after this long without use
 *   data-storage="local" | "session"    where it is kept: localStorage (across tabs) or sessionStorage (this tab)
 *   data-send-page-url="true"  send the page's address (without query or fragment) with each message; off by default
 * A page address with ?hoso=<code> (the QR code a one-stop-desk officer printed) opens the widget on that desk case,
 * at step 1 of its walkthrough; the code is then taken out of the address. The same code scanned again on this
 * browser goes back to its conversation; a code that opens nothing is said in the chat, which opens as usual.
 * It talks to the /webhooks/web/ routes of the host it was loaded from (that host lists this portal's origin in
 * ASSISTANT_ALLOWED_ORIGINS). The browser keeps only the conversation token, the open/closed state, the time of
 * last use, the time of the last staff reply seen and the desk case's code it was opened from; the conversation itself is read back from the server after a
 * reload or on another page. "Kết thúc trò chuyện" forgets all of it. The widget lives in a Shadow DOM. */
(function () {
  "use strict";
  if (window.__tldvcWidget) return;
  window.__tldvcWidget = true;
  var script = document.currentScript;
  var base = script ? new URL(script.src, location.href).origin : location.origin;
  function opt(name, fallback) {
    var v = script && script.getAttribute("data-" + name);
    return v === null || v === undefined || v === "" ? fallback : v;
  }
  var TITLE = opt("title", "Trợ lý ảo dịch vụ công");
  var COLOR = opt("color", "#a4161a");
  if (!(window.CSS && CSS.supports && CSS.supports("color", COLOR))) COLOR = "#a4161a";
  var LEFT = opt("position", "right") === "left";
  var GREETING = opt("greeting", "");
  var OPEN_ON_LOAD = opt("open", "false") === "true" || location.hash === "#tro-ly-ao";
  var IDLE_MS = Math.max(1, parseFloat(opt("idle-minutes", "30")) || 30) * 60000;
  var SEND_PAGE = opt("send-page-url", "false") === "true";
  var KEY = "tldvc";
  var CASE_PARAM = "hoso";
  var POLL_MS = 5000;
  var store;
  try {
    store = opt("storage", "local") === "session" ? window.sessionStorage : window.localStorage;
    store.getItem(KEY);
  } catch (e) {
    store = null;  // storage blocked: the conversation lasts as long as the page
  }
  // Older versions of the widget kept these: never leave them behind.
  try { localStorage.removeItem("tldvc-sender"); localStorage.removeItem("tldvc-staff-after"); } catch (e) { /* blocked */ }

  var state = load();
  function load() {
    var s = null;
    try { s = JSON.parse((store && store.getItem(KEY)) || "null"); } catch (e) { s = null; }
    if (!s || typeof s !== "object" || !s.last || Date.now() - s.last > IDLE_MS) {
      if (store) store.removeItem(KEY);
      return { token: null, open: false, last: 0, staffAfter: 0 };
    }
    return s;
  }
  function save() {
    state.last = Date.now();
    if (store) { try { store.setItem(KEY, JSON.stringify(state)); } catch (e) { /* full or blocked */ } }
  }
  function forget() {
    state = { token: null, open: false, last: 0, staffAfter: 0 };
    if (store) store.removeItem(KEY);
  }
  // A desk case's code in the page address (?hoso=…). Taken out of the address once the server has answered it,
  // so a reload or a bookmark does not open the case again; kept when the server could not be reached (a reload retries).
  function caseCode() {
    try { return (new URL(location.href).searchParams.get(CASE_PARAM) || "").slice(0, 200); } catch (e) { return ""; }
  }
  function dropCaseCode() {
    try {
      var url = new URL(location.href);
      url.searchParams.delete(CASE_PARAM);
      history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    } catch (e) { /* an address we may not rewrite */ }
  }

  // Text on the colour: white unless the colour is light (WCAG contrast 4.5:1).
  function textOn(color) {
    var probe = document.createElement("span");
    probe.style.color = color;
    probe.style.display = "none";
    document.body.appendChild(probe);
    var m = getComputedStyle(probe).color.match(/\d+(\.\d+)?/g) || [0, 0, 0];
    probe.remove();
    var l = m.slice(0, 3).map(function (c) {
      c = c / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var lum = 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
    return (1.05) / (lum + 0.05) >= 4.5 ? "#fff" : "#111";
  }
  var ON = textOn(COLOR);
  var side = LEFT ? "left" : "right";
  var css = "" +
    ":host{all:initial}" +
    "*{box-sizing:border-box}" +
    ".launcher{position:fixed;" + side + ":16px;bottom:16px;z-index:2147483000;background:var(--c);color:var(--on);border:0;border-radius:28px;padding:12px 18px;font:600 15px/1.2 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;box-shadow:0 2px 8px rgba(0,0,0,.25);cursor:pointer;max-width:calc(100vw - 32px)}" +
    ".launcher:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #1a56db;outline-offset:2px}" +
    ".panel{position:fixed;" + side + ":12px;bottom:76px;z-index:2147483000;width:min(380px,calc(100vw - 24px));height:min(560px,calc(100vh - 96px));background:#fff;border-radius:12px;box-shadow:0 4px 24px rgba(0,0,0,.25);display:none;flex-direction:column;overflow:hidden;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2733;text-align:left}" +
    ".panel.open{display:flex;animation:tldvc-in .18s ease-out}" +
    "@keyframes tldvc-in{from{opacity:0;transform:translateY(12px)}to{opacity:1;transform:none}}" +
    ".head{background:var(--c);color:var(--on);padding:8px 8px 8px 14px;display:flex;align-items:center;gap:6px}" +
    ".head h2{flex:1;margin:0;font-size:15px;font-weight:600;line-height:1.3;min-width:0;overflow-wrap:anywhere}" +
    ".head button{background:transparent;color:var(--on);border:1px solid currentColor;border-radius:6px;padding:4px 8px;font-family:inherit;font-size:13px;line-height:1.2;cursor:pointer;white-space:nowrap}" +
    ".head .x{border:0;font-size:22px;line-height:1;padding:2px 8px}" +
    ".progress{display:none;padding:6px 14px;background:#f1f3f6;border-bottom:1px solid #e3e6ea;font-size:13px;color:#1d2733}" +
    ".progress.on{display:block}" +
    ".bar{height:4px;background:#d8dde3;border-radius:2px;margin-top:4px;overflow:hidden}" +
    ".bar i{display:block;height:100%;background:var(--c);width:0;transition:width .3s}" +
    ".log{flex:1;overflow-y:auto;overflow-x:hidden;padding:12px;background:#f6f7f9;scroll-behavior:smooth}" +
    ".m{max-width:85%;margin:6px 0;padding:8px 11px;border-radius:10px;white-space:pre-wrap;overflow-wrap:anywhere}" +
    ".bot{background:#fff;border:1px solid #e3e6ea}" +
    ".staff{background:#fff8e1;border:1px solid #f0d890}" +
    ".me{background:#d9ecff;margin-left:auto}" +
    ".bs{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}" +
    ".b{border:1px solid var(--c);color:var(--ink);background:#fff;border-radius:16px;padding:6px 11px;font-family:inherit;font-size:14px;line-height:1.3;cursor:pointer;max-width:100%;overflow-wrap:anywhere;text-align:left}" +
    ".b:disabled{color:#5b6777;border-color:#c3c9d0;cursor:default}" +
    "form{display:flex;border-top:1px solid #e3e6ea;margin:0}" +
    "input{flex:1;min-width:0;border:0;padding:12px;font-family:inherit;font-size:15px;color:#1d2733;background:#fff}" +
    ".send{border:0;background:var(--c);color:var(--on);padding:0 16px;font-family:inherit;font-size:15px;font-weight:600;cursor:pointer}" +
    ".send:disabled{opacity:.6;cursor:default}" +
    ".sr{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}" +
    "@media (prefers-reduced-motion:reduce){.panel.open{animation:none}.log{scroll-behavior:auto}.bar i{transition:none}}";

  var host = document.createElement("tro-ly-ao-widget");
  host.id = "tldvc-root";
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML = "<style>" + css + "</style>" +
    '<button class="launcher" type="button" aria-expanded="false" aria-controls="tldvc-panel">Hỏi trợ lý ảo</button>' +
    '<section class="panel" id="tldvc-panel" role="dialog" aria-modal="false" aria-labelledby="tldvc-title">' +
    '<div class="head"><h2 id="tldvc-title"></h2>' +
    '<button class="end" type="button">Kết thúc trò chuyện</button>' +
    '<button class="x" type="button" aria-label="Thu nhỏ cửa sổ trò chuyện">×</button></div>' +
    '<div class="progress" role="status"><span class="ptext"></span><div class="bar"><i></i></div></div>' +
    '<div class="log" tabindex="-1" aria-label="Nội dung trò chuyện"></div>' +
    '<div class="sr" aria-live="polite" aria-atomic="true"></div>' +
    '<form><input autocomplete="off" maxlength="2000" placeholder="Nhập câu hỏi của bạn…" aria-label="Tin nhắn cho trợ lý ảo">' +
    '<button class="send" type="submit">Gửi</button></form></section>';
  host.style.setProperty("--c", COLOR);
  host.style.setProperty("--on", ON);
  // Button text on white: the colour itself when it is dark enough, else dark grey.
  host.style.setProperty("--ink", ON === "#fff" ? COLOR : "#1d2733");
  document.body.appendChild(host);

  var launcher = root.querySelector(".launcher");
  var panel = root.querySelector(".panel");
  var log = root.querySelector(".log");
  var live = root.querySelector(".sr");
  var form = root.querySelector("form");
  var input = root.querySelector("input");
  var send = root.querySelector(".send");
  var progress = root.querySelector(".progress");
  root.querySelector("h2").textContent = TITLE;
  var busy = false;
  var pollTimer = null;
  var polling = false;
  var withStaff = false;
  var restored = false;
  var notice = "";  // said once the panel opens (a desk case's code that opened nothing)

  function headers(json) {
    var h = { Authorization: "Bearer " + state.token };
    if (json) h["Content-Type"] = "application/json";
    return h;
  }
  function call(method, path, body) {
    return fetch(base + path, {
      method: method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      keepalive: path === "/webhooks/web/end"
    }).then(function (r) {
      if (r.status === 401) { var e = new Error("401"); e.status = 401; throw e; }
      if (!r.ok) throw new Error(String(r.status));
      return r.status === 204 ? null : r.json();
    });
  }
  function ensureToken() {
    if (state.token) return Promise.resolve(state.token);
    return fetch(base + "/webhooks/web/conversations", { method: "POST", credentials: "omit" }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    }).then(function (d) { state.token = d.token; save(); return d.token; });
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }
  function bubble(text, who) {
    var div = document.createElement("div");
    div.className = "m " + (who === "me" ? "me" : who === "staff" ? "staff" : "bot");
    div.textContent = who === "staff" ? "Cán bộ: " + text : text;
    log.appendChild(div);
    scrollDown();
    return div;
  }
  function disableOldButtons() {
    root.querySelectorAll(".b").forEach(function (x) { x.disabled = true; });
  }
  function buttonRow(buttons) {
    var row = document.createElement("div");
    row.className = "bs";
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", "Lựa chọn");
    buttons.forEach(function (b) {
      var el = document.createElement("button");
      el.type = "button";
      el.className = "b";
      el.textContent = b.title;
      el.addEventListener("click", function () {
        if (busy) return;
        talk(b.payload, b.title);
      });
      row.appendChild(el);
    });
    log.appendChild(row);
    scrollDown();
  }
  function showProgress(custom) {
    if (!custom || !("procedure" in custom)) return;  // a reply about no procedure leaves the line as it is
    if (custom.step && custom.steps) {
      root.querySelector(".ptext").textContent = "Bước " + custom.step + "/" + custom.steps;
      root.querySelector(".bar i").style.width = Math.min(100, Math.round(100 * custom.step / custom.steps)) + "%";
      progress.classList.add("on");
    } else {
      progress.classList.remove("on");
    }
  }
  function announce(texts) {
    if (texts.length) live.textContent = texts.join("\n");
  }
  // Bot messages (REST shape, or history's {from, text, buttons, custom}).
  function showReplies(messages, speak) {
    var said = [];
    messages.forEach(function (m) {
      if (m.text) { bubble(m.text, m.from === "staff" ? "staff" : "bot"); said.push(m.from === "staff" ? "Cán bộ: " + m.text : m.text); }
      if (m.buttons && m.buttons.length) buttonRow(m.buttons);
      showProgress(m.custom);
    });
    if (speak) announce(said);
  }
  function showGreeting() {
    if (GREETING) bubble(GREETING, "bot");
  }
  function setBusy(on) {
    busy = on;
    send.disabled = on;
    input.setAttribute("aria-disabled", on ? "true" : "false");
    log.setAttribute("aria-busy", on ? "true" : "false");
    root.querySelectorAll(".b").forEach(function (x) { if (on) x.disabled = true; });
  }
  function talk(message, shown, retried) {
    if (busy) return;
    setBusy(true);
    if (!retried) { disableOldButtons(); bubble(shown || message, "me"); }
    var metadata = SEND_PAGE ? { page: location.origin + location.pathname } : {};
    ensureToken().then(function () {
      return call("POST", "/webhooks/web/webhook", { message: message, metadata: metadata });
    }).then(function (d) {
      setBusy(false);
      save();
      showReplies(d.messages || [], true);
      if (d.with_staff) startPolling(); else if (withStaff) handedBack();
    }).catch(function (e) {
      setBusy(false);
      if (e && e.status === 401 && !retried) {  // the server no longer knows the token: a new conversation
        state.token = null;
        talk(message, shown, true);
        return;
      }
      bubble("Xin lỗi, trợ lý đang bận hoặc mất kết nối. Bạn thử lại sau ít phút nhé.", "bot");
      announce(["Xin lỗi, trợ lý đang bận hoặc mất kết nối."]);
    }).then(function () { if (!busy && panel.classList.contains("open")) input.focus(); });
  }
  function restore() {
    if (restored || !state.token) return Promise.resolve();
    restored = true;
    return call("GET", "/webhooks/web/history").then(function (d) {
      log.textContent = "";
      showGreeting();
      (d.messages || []).forEach(function (m) {
        if (m.from === "citizen") bubble(m.text, "me"); else showReplies([m], false);
      });
      if (d.with_staff) startPolling();
    }).catch(function (e) {
      if (e && e.status === 401) forget();  // a token this server no longer accepts: start afresh
      restored = false;
    });
  }

  // Staff replies: polled only while the conversation is with staff; stops once they hand it back.
  function startPolling() {
    withStaff = true;
    if (!pollTimer && !polling) pollTimer = setTimeout(poll, POLL_MS);
  }
  function stopPolling() {
    withStaff = false;
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
  }
  function handedBack() {
    stopPolling();
    bubble("Cán bộ đã kết thúc hỗ trợ. Trợ lý ảo tiếp tục giúp bạn, cứ nhắn nhé.", "bot");
    announce(["Cán bộ đã kết thúc hỗ trợ. Trợ lý ảo tiếp tục giúp bạn."]);
  }
  function poll() {
    pollTimer = null;
    if (!withStaff || !state.token) return;
    polling = true;
    call("GET", "/webhooks/web/staff-messages?after=" + encodeURIComponent(String(state.staffAfter || 0))).then(function (d) {
      var texts = [];
      (d.messages || []).forEach(function (m) {
        bubble(m.text, "staff");
        texts.push("Cán bộ: " + m.text);
        if (m.timestamp > (state.staffAfter || 0)) state.staffAfter = m.timestamp;
      });
      announce(texts);
      if (texts.length) save();
      if (d.paused) { polling = false; if (withStaff) pollTimer = setTimeout(poll, POLL_MS); } else { polling = false; handedBack(); }
    }).catch(function () {
      polling = false;
      if (withStaff) pollTimer = setTimeout(poll, POLL_MS);  // keep trying through a network hiccup
    });
  }

  function open() {
    panel.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    state.open = true;
    if (state.token) save();
    input.focus();
    restore().then(function () {
      var empty = !log.childElementCount;
      if (notice) { bubble(notice, "bot"); announce([notice]); notice = ""; }
      if (!state.token && empty) {
        showGreeting();
        if (!GREETING) talk("/greet", "Xin chào");
      }
    });
  }
  // Open the desk case of a QR code: a new conversation at step 1 of the case (or, scanned again here, the one
  // it opened before). A code that opens nothing (forged, cut short, expired, case gone) is said in the chat.
  function openCase(code) {
    if (state.token && state.hoso === code) { dropCaseCode(); open(); return; }
    setBusy(true);
    fetch(base + "/webhooks/web/cases", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code: code }),
      credentials: "omit"
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (d) {
        if (!r.ok) {
          var e = new Error(String(r.status));
          e.detail = typeof d.detail === "string" ? d.detail : "";
          if (r.status >= 400 && r.status < 500) dropCaseCode();  // refused for good: an expired or wrong code
          throw e;
        }
        return d;
      });
    }).then(function (d) {
      setBusy(false);
      dropCaseCode();
      forget();
      state.token = d.token;
      state.hoso = code;
      save();
      restored = true;  // what to show is in the answer: no history to read
      log.textContent = "";
      showGreeting();
      showReplies(d.messages || [], true);
      open();
    }).catch(function (e) {
      setBusy(false);
      notice = (e && e.detail) || "Chưa mở được hồ sơ của mã QR (mất kết nối). Bạn tải lại trang để thử lại, hoặc hỏi trợ lý ảo như thường.";
      if (e && e.detail && !/^4/.test(e.message)) notice += " Bạn tải lại trang để mở hồ sơ.";
      open();
    });
  }
  function close(keepFocus) {
    var hadFocus = panel.contains(root.activeElement);
    panel.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    state.open = false;
    if (state.token) save();
    if (hadFocus || keepFocus !== true) launcher.focus();
  }
  function end(idle) {
    if (state.token) call("POST", "/webhooks/web/end").catch(function () { /* the browser forgets anyway */ });
    stopPolling();
    forget();
    restored = false;
    log.textContent = "";
    live.textContent = "";
    progress.classList.remove("on");
    input.value = "";
    close(idle === true);
  }
  launcher.addEventListener("click", function () { panel.classList.contains("open") ? close() : open(); });
  root.querySelector(".x").addEventListener("click", function () { close(); });
  root.querySelector(".end").addEventListener("click", function () { end(); });
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { e.stopPropagation(); close(); }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    talk(text);
  });
  // Kept state ends after the idle time, on screen too (a kiosk left with the chat open).
  setInterval(function () {
    if (state.last && Date.now() - state.last > IDLE_MS && !busy) end(true);
  }, Math.min(30000, IDLE_MS / 2));

  var code = caseCode();
  if (code) openCase(code);
  else {
    if (state.token) restore();
    if (OPEN_ON_LOAD || state.open) open();
  }
})();
