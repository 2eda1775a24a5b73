// The inbox's small script: the reply box (modes, "/" canned answers, Ctrl+Enter), keyboard
// shortcuts (j/k r n /), and keeping the conversation scrolled to its newest message.
(function () {
  "use strict";

  function composer() { return document.getElementById("composer"); }
  function box() { return document.getElementById("reply-text"); }
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  // -- the conversation stays at its newest message (unless the officer scrolled up to read) ------
  var stick = true;
  function scroller() { return document.getElementById("timeline"); }
  function toBottom() { var s = scroller(); if (s) s.scrollTop = s.scrollHeight; }
  document.addEventListener("scroll", function (ev) {
    var s = scroller();
    if (ev.target === s) stick = s.scrollHeight - s.scrollTop - s.clientHeight < 40;
  }, true);
  document.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.target && ev.target.id === "timeline") {
      if (stick) toBottom();
      // Someone else moved the record on (status or holder): say so, keep the officer's text.
      var rec = document.getElementById("record"), ol = ev.target.querySelector("ol.timeline");
      var changed = rec && ol && (ol.dataset.status !== rec.dataset.status || ol.dataset.holder !== rec.dataset.holder);
      var note = document.querySelector("[data-testid=changed]");
      if (note) note.hidden = !changed;
      return;
    }
    toBottom();
    var err = document.querySelector("[data-testid=error]");
    if (err && box()) box().focus();
  });
  document.addEventListener("DOMContentLoaded", function () {
    toBottom();
    if (document.querySelector("[data-testid=error]") && box() && box().value) box().focus();
    syncMode();
  });

  // -- reply or private note ------------------------------------------------------------------------
  function syncMode() {
    var form = composer();
    if (!form) return;
    var picked = form.querySelector("input[name=mode]:checked");
    var mode = picked ? picked.value : "reply";
    form.classList.toggle("mode-note", mode === "note");
    form.classList.toggle("mode-reply", mode !== "note");
  }
  function setMode(mode) {
    var form = composer();
    if (!form) return false;
    var radio = form.querySelector("input[name=mode][value=" + mode + "]");
    if (!radio) return false;
    radio.checked = true;
    syncMode();
    box().focus();
    return true;
  }
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.matches && el.matches("#composer input[name=mode]")) syncMode();
    // Fill the reply box from the chosen canned answer (placeholders were filled by the server).
    if (el.matches && el.matches("select[data-fill]")) {
      var opt = el.options[el.selectedIndex];
      var target = document.getElementById(el.getAttribute("data-fill"));
      if (target && opt && opt.dataset.text) { target.value = opt.dataset.text; target.focus(); }
    }
  });
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest && ev.target.closest("[data-focus]");
    if (btn) { setMode("reply"); }
  });

  // -- "/" + name: canned answers ------------------------------------------------------------------
  var menuIndex = 0;
  function menu() { return document.getElementById("canned-menu"); }
  function cannedList() {
    try { return JSON.parse(box().getAttribute("data-canned") || "[]"); } catch (e) { return []; }
  }
  function slashWord() {
    var b = box();
    var before = b.value.slice(0, b.selectionStart);
    var m = /(^|\s)\/([^\s\/]*)$/.exec(before);
    return m ? { query: m[2].toLowerCase(), start: before.length - m[2].length - 1 } : null;
  }
  function matches() {
    var w = slashWord();
    if (!w) return null;
    // "/" + the start of any word of the answer's name (or of its key)
    return cannedList().filter(function (a) {
      var names = [a.key.toLowerCase()].concat(a.title.toLowerCase().split(/\s+/));
      return names.some(function (n) { return n.indexOf(w.query) === 0; });
    });
  }
  function closeMenu() { var m = menu(); if (m) { m.hidden = true; m.innerHTML = ""; } }
  function showMenu() {
    var m = menu(), found = matches();
    if (!m || found === null) { closeMenu(); return; }
    m.innerHTML = "";
    if (!found.length) {
      var none = document.createElement("li");
      none.textContent = m.getAttribute("data-empty");
      none.className = "empty";
      m.appendChild(none);
    }
    menuIndex = Math.min(menuIndex, Math.max(found.length - 1, 0));
    found.forEach(function (a, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.id = "canned-" + a.key;
      li.dataset.key = a.key;
      li.setAttribute("aria-selected", i === menuIndex ? "true" : "false");
      li.textContent = a.title;
      li.addEventListener("mousedown", function (e) { e.preventDefault(); pick(a); });
      m.appendChild(li);
    });
    m.hidden = false;
  }
  function pick(a) {
    var b = box(), w = slashWord();
    if (!w) return;
    b.value = b.value.slice(0, w.start) + a.text + b.value.slice(b.selectionStart);
    var end = w.start + a.text.length;
    b.setSelectionRange(end, end);
    closeMenu();
    b.focus();
  }
  document.addEventListener("input", function (ev) {
    if (ev.target === box()) { menuIndex = 0; showMenu(); }
  });
  document.addEventListener("keydown", function (ev) {
    var b = box();
    if (b && ev.target === b) {
      var m = menu();
      if (m && !m.hidden) {
        var found = matches() || [];
        if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
          ev.preventDefault();
          menuIndex = (menuIndex + (ev.key === "ArrowDown" ? 1 : -1) + found.length) % Math.max(found.length, 1);
          showMenu();
          return;
        }
        if ((ev.key === "Enter" || ev.key === "Tab") && found.length) { ev.preventDefault(); pick(found[menuIndex]); return; }
        if (ev.key === "Escape") { ev.preventDefault(); closeMenu(); return; }
      }
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        var send = composer().querySelector("button[data-action=send]");
        composer().requestSubmit(send);
      }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    // -- shortcuts outside the text fields ---------------------------------------------------------
    if (ev.key === "r" && setMode("reply")) { ev.preventDefault(); return; }
    if (ev.key === "n" && setMode("note")) { ev.preventDefault(); return; }
    if (ev.key === "/" && b) {
      ev.preventDefault();
      setMode("reply");
      if (!slashWord()) { b.value = (b.value && !/\s$/.test(b.value) ? b.value + " " : b.value) + "/"; }
      b.setSelectionRange(b.value.length, b.value.length);
      showMenu();
      return;
    }
    if (ev.key === "/" && document.getElementById("q")) { ev.preventDefault(); document.getElementById("q").focus(); return; }
    if (ev.key === "j" || ev.key === "k") { ev.preventDefault(); moveRow(ev.key === "j" ? 1 : -1); return; }
    if (ev.key === "Enter") {
      var cur = document.querySelector("tr.kb-current a");
      if (cur) { ev.preventDefault(); cur.click(); }
    }
  });

  // -- j/k in the queue -------------------------------------------------------------------------------
  function rememberQueue() {
    var rows = document.querySelectorAll("tr[data-tracking]");
    if (!rows.length) return;
    var list = Array.prototype.map.call(rows, function (r) { return r.getAttribute("data-tracking"); });
    sessionStorage.setItem("aduan.queue", JSON.stringify(list));
  }
  document.addEventListener("DOMContentLoaded", rememberQueue);
  document.addEventListener("htmx:afterSwap", rememberQueue);
  function moveRecord(step) {
    // On a complaint page: the next or previous record of the queue the officer came from.
    var rec = document.getElementById("record");
    var list;
    try { list = JSON.parse(sessionStorage.getItem("aduan.queue") || "[]"); } catch (e) { list = []; }
    var at = list.indexOf(rec.getAttribute("data-tracking"));
    var next = list[at + step];
    if (at >= 0 && next) window.location.href = "/inbox/c/" + encodeURIComponent(next);
  }
  function moveRow(step) {
    if (document.getElementById("record")) { moveRecord(step); return; }
    var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-tracking]"));
    if (!rows.length) return;
    var at = rows.findIndex(function (r) { return r.classList.contains("kb-current"); });
    var next = at < 0 ? 0 : Math.min(Math.max(at + step, 0), rows.length - 1);
    rows.forEach(function (r) { r.classList.remove("kb-current"); r.removeAttribute("aria-selected"); });
    rows[next].classList.add("kb-current");
    rows[next].setAttribute("aria-selected", "true");
    var link = rows[next].querySelector("a");
    if (link) link.focus();
    sessionStorage.setItem("aduan.kb-row", rows[next].getAttribute("data-tracking"));
  }
  document.addEventListener("htmx:afterSwap", function (ev) {
    // polling replaced the rows: keep the j/k position on the same record
    if (!ev.target || ev.target.id !== "queue-live") return;
    var kept = sessionStorage.getItem("aduan.kb-row");
    var row = kept && document.querySelector('tr[data-tracking="' + kept + '"]');
    if (row) row.classList.add("kb-current");
  });
})();
