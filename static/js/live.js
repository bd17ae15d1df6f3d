/* ECSA Workshop: the live layer.
 *
 * One Socket.IO connection per tab, kept across htmx-boosted page changes. The server
 * says *what* changed; htmx fetches those blocks, rendered for this viewer by the same
 * templates as the page, so there is no second renderer here. Notes are co-edited with
 * Yjs (notes.js). Nothing typed is thrown away: a block with unsaved input is refreshed
 * only once that input is saved or cleared, and text the server refused is shown to copy.
 */
(function () {
  "use strict";

  var socket = null;
  var pending = 0;            // messages sent but not yet acknowledged
  var held = false;           // notes typed offline, sent by the notes resync on reconnecting
  var signedOut = false;      // the server no longer knows this browser (facilitator link replaced)
  var everConnected = false;
  var follow = { on: false, indicator: null };
  var steppedAway = false;

  function live() { return document.getElementById("live"); }
  function data(name) { var el = live(); return el ? el.dataset[name] || "" : ""; }

  /* ---- connection state ------------------------------------------------------------ */

  function showState(kind) {
    var el = document.getElementById("connection");
    if (!el) return;
    var words = {
      connected: "Live: connected",
      reconnecting: "Reconnecting…",
      offline: pending || held ? "Offline – changes waiting to send" : "Offline",
      signedout: "Signed out of this session – reload the page to join again"
    };
    el.textContent = words[kind];
    el.dataset.state = kind;
  }

  function currentState() {
    if (socket && socket.connected) return "connected";
    if (signedOut) return "signedout";
    return navigator.onLine === false || pending || held ? "offline" : "reconnecting";
  }

  function track(delta) { pending += delta; showState(currentState()); }
  function hold(on) { held = on; showState(currentState()); }

  /* Send a message; counts as "waiting" until acknowledged (socket.io buffers it offline). */
  function send(name, payload, done) {
    if (!socket) return;
    track(1);
    socket.emit(name, payload, function (ack) {
      track(-1);
      if (done) done(ack || { ok: false, error: "No answer" });
    });
  }

  /* ---- announcements ---------------------------------------------------------------- */

  function announce(message) {
    var el = document.getElementById("announcer");
    if (!el || !message) return;
    el.textContent = "";
    window.setTimeout(function () { el.textContent = message; }, 50);
  }

  /* ---- unsaved input ------------------------------------------------------------------ */

  function isDirty(field) {
    if (field.type === "hidden" || field.dataset.liveNotes !== undefined) return false;
    if (field.type === "radio" || field.type === "checkbox") return field.checked !== field.defaultChecked;
    if (field.tagName === "SELECT") {
      return Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    return field.value !== field.defaultValue;
  }

  function dirtyFields(root) {
    return Array.prototype.filter.call(root.querySelectorAll("input, textarea, select"), isDirty);
  }

  /* Show text the server did not take, so it can be copied (never silently dropped). */
  function showUnsent(texts, why) {
    var box = document.getElementById("unsent");
    if (!box || !texts.length) return;
    var area = box.querySelector("textarea");
    area.value = (area.value ? area.value + "\n\n" : "") + texts.join("\n\n");
    box.querySelector(".ecsa-unsent__why").textContent = why;
    box.hidden = false;
    announce(why + " Your text is shown at the top of the page so you can copy it.");
  }

  function unsentFrom(root) {
    return dirtyFields(root).filter(function (f) { return f.value && f.type !== "radio"; })
      .map(function (f) {
        var label = document.querySelector("label[for='" + f.id + "']");
        return (label ? label.textContent.trim() + ": " : "") + f.value;
      });
  }

  /* ---- refreshing blocks ---------------------------------------------------------------- */

  /* One fetch per element at a time. Each element is its own htmx source: htmx.ajax
     without one syncs every call on <body> and keeps only the latest queued call, so
     blocks that changed together (or all of them, catching up) were silently skipped.
     A call made while its element is being fetched runs again once that fetch is done,
     so the last change always shows. */
  var busy = {};  // element id -> what to run again when its fetch in flight is done

  function busyWith(id, again) {
    if (!(id in busy)) return false;
    busy[id] = again;
    return true;
  }

  function fetchInto(target, url) {
    var id = target.id;
    busy[id] = null;
    function done() { var again = busy[id]; delete busy[id]; if (again) again(); }
    htmx.ajax("GET", url, { source: target, target: target, swap: "outerHTML" }).then(done, done);
  }

  function refresh(id, force) {
    var target = document.getElementById(id);
    var url = data("here");
    if (!target || !url || busyWith(id, function () { refresh(id, force); })) return;
    if (!force && dirtyFields(target).length) { target.dataset.stale = "1"; return; }
    if (force) showUnsent(unsentFrom(target), "This indicator was locked before your text was saved.");
    fetchInto(target, url + "?block=" + encodeURIComponent(id));
  }

  /* A swap the person asked for (Edit, Remove, Cancel, a save) must not wipe what they
     typed in *another* form of the same block, such as a half-written new item. */
  var keptValues = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var sent = event.detail.requestConfig && event.detail.requestConfig.elt;
    var form = sent && sent.closest ? sent.closest("form") : null;
    keptValues = dirtyFields(event.detail.target).filter(function (f) {
      return f.id && f.form !== form && f.type !== "radio" && f.type !== "checkbox";
    }).map(function (f) { return [f.id, f.value]; });
  });
  document.addEventListener("htmx:afterSwap", function () {
    (keptValues || []).forEach(function (kept) {
      var field = document.getElementById(kept[0]);
      if (field && !field.readOnly && field.value === field.defaultValue) field.value = kept[1];
    });
    keptValues = null;
  });

  /* The server says the indicator is locked but this page still offers its forms: a lock
     was missed while offline. Refresh the whole worksheet (keeping unsaved text to copy). */
  function lockedMeanwhile() {
    if (document.querySelector("#worksheet:not(.ecsa-worksheet--locked)")) refresh("worksheet", true);
  }

  function refreshStale() {
    document.querySelectorAll("[data-stale]").forEach(function (el) {
      if (!dirtyFields(el).length) refresh(el.id);
    });
  }

  function refreshOverviewItem(indicator) {
    var item = document.getElementById("overview-" + indicator);
    if (item && !busyWith(item.id, function () { refreshOverviewItem(indicator); })) {
      fetchInto(item, data("overview") + "/" + encodeURIComponent(indicator));
    }
  }

  function onChanged(change) {
    if (change.indicator && change.indicator === data("indicator")) {
      change.blocks.forEach(function (block) { refresh(block, block === "worksheet"); });
      if (change.notes && window.ECSA.notes) window.ECSA.notes.resync();
    }
    if (change.indicator) refreshOverviewItem(change.indicator);
    if (change.type === "session_updated") announce("The facilitator changed the session's settings.");
    announce(change.message);
  }

  /* After a reconnect, fetch every live block of this page: changes may have been missed. */
  function catchUp() {
    document.querySelectorAll("[data-live-block]").forEach(function (el) { refresh(el.id); });
    document.querySelectorAll("[data-overview-item]").forEach(function (el) {
      refreshOverviewItem(el.dataset.overviewItem);
    });
  }

  /* ---- presence and follow-me ------------------------------------------------------------ */

  function onPresence(message) {
    var el = document.getElementById("presence");
    if (!el) return;
    el.outerHTML = message.html;   // rendered and escaped by the server's template
  }

  function goTo(indicator) {
    var url = data("indicatorBase") + encodeURIComponent(indicator);
    if (dirtyFields(document.getElementById("maincontent") || document.body).length) {
      showFollow();  // never navigate away from unsaved input: offer the link instead
      return;
    }
    var link = document.createElement("a");
    link.href = url;
    link.hidden = true;
    document.body.appendChild(link);
    htmx.process(link);
    link.click();
  }

  function showFollow() {
    var bar = document.getElementById("follow");
    if (!bar) return;
    var facilitator = data("facilitator") === "1";
    bar.hidden = !facilitator && !follow.on;
    var toggle = document.getElementById("follow-toggle");
    if (toggle) {
      toggle.setAttribute("aria-pressed", follow.on ? "true" : "false");
      toggle.textContent = follow.on ? "Follow me: on" : "Follow me: off";
    }
    var status = document.getElementById("follow-status");
    if (status && !facilitator) {
      status.textContent = !follow.on ? "" : steppedAway
        ? "The facilitator is on " + (follow.indicator || "the overview") + "."
        : "Following the facilitator.";
    }
    var back = document.getElementById("follow-back");
    if (back) back.hidden = !(follow.on && (steppedAway || follow.indicator !== data("indicator")));
    var away = document.getElementById("follow-away");
    if (away) away.hidden = !(follow.on && !steppedAway);
  }

  function onFollow(message) {
    var wasOn = follow.on;
    follow = message;
    if (follow.on && !wasOn) { steppedAway = false; announce("The facilitator turned on follow-me."); }
    showFollow();
    if (data("facilitator") !== "1" && follow.on && !steppedAway && follow.indicator &&
        follow.indicator !== data("indicator")) goTo(follow.indicator);
  }

  document.addEventListener("click", function (event) {
    var id = event.target && event.target.id;
    if (id === "follow-toggle") {
      send("follow", { on: !follow.on, indicator: data("indicator") || null });
    } else if (id === "follow-away") {
      steppedAway = true; showFollow();
    } else if (id === "follow-back") {
      steppedAway = false; showFollow();
      if (follow.indicator) goTo(follow.indicator);
    }
  });

  /* ---- wiring ---------------------------------------------------------------------------- */

  function sayWhere() {
    if (socket && socket.connected) send("where", { indicator: data("indicator") || null });
  }

  /* Connect to the session this page belongs to (pages outside a session have none). */
  function connect() {
    var session = data("session");
    if (socket && socket.auth.session === session) return;
    if (socket) { socket.disconnect(); socket = null; everConnected = false; }
    if (!session || typeof io === "undefined") return;
    socket = io({ auth: { session: session } });
    socket.on("connect", function () {
      showState("connected");
      sayWhere();
      if (everConnected) catchUp();
      everConnected = true;
      if (window.ECSA.notes) window.ECSA.notes.resync();
    });
    socket.on("disconnect", function (reason) {
      // socket.io drops the callbacks of messages in flight when the connection goes (they
      // never run); only messages it still buffers are waiting now. Notes lost in flight
      // are sent again by the notes resync on reconnecting.
      pending = socket.sendBuffer.length;
      showState(currentState());
      // Closed by the server (the facilitator link was replaced): socket.io would not try
      // again. The browser that replaced it holds the new cookie and gets straight back in;
      // the others are refused, and say so.
      if (reason === "io server disconnect") socket.connect();
    });
    socket.on("connect_error", function (error) {
      signedOut = !!(error && error.message === "Join the session before connecting.");
      showState(currentState());
    });
    socket.on("changed", onChanged);
    socket.on("presence", onPresence);
    socket.on("follow", onFollow);
    socket.on("notes_update", function (m) { if (window.ECSA.notes) window.ECSA.notes.remote(m); });
  }

  // Back online: reconnect now rather than at socket.io's next backoff step (seconds away).
  window.addEventListener("online", function () {
    if (socket && !socket.connected) socket.disconnect().connect();
    showState(currentState());
  });
  window.addEventListener("offline", function () { showState(currentState()); });
  document.addEventListener("focusout", function () { window.setTimeout(refreshStale, 0); });
  document.addEventListener("htmx:afterSettle", function (event) {
    connect();
    refreshStale();
    if (event.detail && event.detail.target === document.body) { sayWhere(); showFollow(); }
    if (window.ECSA.notes) window.ECSA.notes.attach();
  });
  document.addEventListener("DOMContentLoaded", function () {
    connect();
    showFollow();
    if (window.ECSA.notes) window.ECSA.notes.attach();
  });

  window.ECSA = window.ECSA || {};
  window.ECSA.live = {
    send: send, announce: announce, showUnsent: showUnsent, hold: hold, lockedMeanwhile: lockedMeanwhile,
    connected: function () { return !!(socket && socket.connected); },
    socket: function () { return socket; }, indicator: function () { return data("indicator"); }
  };
})();
