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

  /* The bar shows the state; what is announced is only the connection lost and restored
     (not "connecting" on every page change). */
  var announcedLost = false;
  function sayConnection(kind) {
    if (kind !== "connected" && everConnected && !announcedLost) {
      announcedLost = true;
      announce("Live connection lost. What you type is kept and sent when it is back.");
    } else if (kind === "connected" && announcedLost) {
      announcedLost = false;
      announce("Live connection restored.");
    }
  }

  function showState(kind) {
    sayConnection(kind);
    var el = document.getElementById("connection");
    if (!el) return;
    var words = {
      connected: "Live: connected",
      reconnecting: "Reconnecting…",
      offline: pending || held ? "Offline – changes waiting to send" : "Offline",
      signedout: "Signed out of this session – reload the page to join again"
    };
    // A form waiting to be sent again while the session moves says so here (moving.js).
    var moving = window.ECSA.moving ? window.ECSA.moving.words() : "";
    el.textContent = moving || words[kind];
    el.dataset.state = moving ? "moving" : kind;
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

  function announce(message) { window.ECSA.focus.announce(message); }

  /* Whether a change is worth saying: only about the indicator on screen (changes elsewhere
     show on the overview), never the notes (they change as people type), never one's own
     (the page already said what one did). */
  function worthSaying(change) {
    var me = data("name");
    return !!change.message && change.indicator === data("indicator") && change.type !== "notes_saved" &&
      !(me && change.message.indexOf(me + " ") === 0);
  }

  /* ---- unsaved input ------------------------------------------------------------------ */

  function isDirty(field) {
    if (field.type === "hidden" || field.dataset.liveNotes !== undefined) return false;
    // The Not saved box holds text already kept for the person (it sits in <main>, a landmark).
    if (field.closest("#unsent")) return false;
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
  // Blocks being refreshed by a push (focus.js leaves their swaps to this file), and what
  // had focus in the one being swapped now, to put it back after.
  var pushes = typeof WeakSet === "function" ? new WeakSet() : null;
  var heldFocus = null;

  function busyWith(id, again) {
    if (!(id in busy)) return false;
    busy[id] = again;
    return true;
  }

  function fetchInto(target, url) {
    var id = target.id;
    busy[id] = null;
    function done() {
      var again = busy[id];
      delete busy[id];
      if (pushes) pushes.delete(target);
      if (again) again();
    }
    if (pushes) pushes.add(target);
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

  /* A block the server rendered for this page and pushed: swapped in as a fetch would be,
     and kept back in the same cases (unsaved input in it; a fetch of it under way, which
     could land later with older content, so it is fetched again instead). */
  function swapIn(id, html, force) {
    var target = document.getElementById(id);
    if (!target || busyWith(id, function () { refresh(id, force); })) return;
    if (!force && dirtyFields(target).length) { target.dataset.stale = "1"; return; }
    if (force) showUnsent(unsentFrom(target), "This indicator was locked before your text was saved.");
    var held = window.ECSA.focus.hold(target);  // a push never moves anyone's focus
    htmx.swap(target, html, { swapStyle: "outerHTML" });
    window.ECSA.focus.restore(held);
  }

  /* A swap the person asked for (Edit, Remove, Cancel, a save) must not wipe what they
     typed in *another* form of the same block, such as a half-written new item. */
  var keptValues = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (pushes && pushes.has(event.detail.target)) heldFocus = window.ECSA.focus.hold(event.detail.target);
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
    if (heldFocus) { window.ECSA.focus.restore(heldFocus); heldFocus = null; }
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
      change.blocks.forEach(function (block) {
        var html = change.html && change.html[block];
        if (html) swapIn(block, html, block === "worksheet");
        else refresh(block, block === "worksheet");
      });
      if (change.notes && window.ECSA.notes) window.ECSA.notes.resync();
    }
    if (change.indicator) refreshOverviewItem(change.indicator);
    // The overview's progress and heatmap count every indicator, and show the baseline.
    if (change.indicator || change.type === "baseline_set") refresh("progress");
    if (change.type === "session_updated") announce("The facilitator changed the session's settings.");
    if (worthSaying(change)) announce(change.message);
    else if (change.indicator && change.type !== "notes_saved" && document.getElementById("overview")) countElsewhere();
  }

  /* On the overview, changes to indicators are said as one count after a quiet moment
     ("3 changes in the session"), never one by one. */
  var elsewhere = 0;
  var elsewhereTimer = null;
  function countElsewhere() {
    elsewhere += 1;
    window.clearTimeout(elsewhereTimer);
    elsewhereTimer = window.setTimeout(function () {
      announce(elsewhere === 1 ? "1 change in the session." : elsewhere + " changes in the session.");
      elsewhere = 0;
    }, 5000);
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

  /* Follow-me never strands anyone: a page with unsaved input is not moved, and its bar
     says where the facilitator is, with a link there. Going there (by the link or "Follow
     the facilitator") first puts the unsaved text in the "Not saved" box, which is kept
     across pages. "Stay here" is remembered for this tab (sessionStorage), so a reload or
     a reconnect does not drag the person back. */

  function indicatorUrl(indicator) { return data("indicatorBase") + encodeURIComponent(indicator); }

  function unsavedHere() {
    return dirtyFields(document.getElementById("maincontent") || document.body);
  }

  /* Go to an indicator as a boosted link would; false when unsaved input holds the page. */
  function goTo(indicator) {
    if (unsavedHere().length) { showFollow(); return false; }  // never navigate away from unsaved input
    var link = document.createElement("a");
    link.href = indicatorUrl(indicator);
    link.hidden = true;
    document.body.appendChild(link);
    htmx.process(link);
    link.click();
    return true;
  }

  var afterMove = null;  // to announce once the page has changed
  var HELD_BACK = " This page stayed here because it has text you have not saved.";

  /* The person chose to go where the facilitator is: keep what they had not saved. */
  function followNow() {
    stayHere(false);
    if (!follow.indicator || follow.indicator === data("indicator")) { showFollow(); return; }
    var texts = unsentFrom(document.getElementById("maincontent") || document.body);
    showUnsent(texts, "You went to follow the facilitator before this text was saved.");
    // The page change replaces the announcer: say it once the next page is in.
    if (texts.length) afterMove = "Your unsaved text is in the Not saved box at the top of the page.";
    // Now in the box: cleared here, so it is neither carried into the next page's forms
    // (see htmx:afterSwap) nor saved twice.
    unsavedHere().forEach(function (field) {
      if (field.tagName === "SELECT") {
        Array.prototype.forEach.call(field.options, function (o) { o.selected = o.defaultSelected; });
      } else if (field.type === "radio" || field.type === "checkbox") field.checked = field.defaultChecked;
      else field.value = field.defaultValue;
    });
    goTo(follow.indicator);
  }

  function stayKey() { return "ecsa.follow.stay." + data("session"); }

  /* "Stay here", for this tab: in memory, and in sessionStorage so it survives a reload. The
     value is the follow-me it was chosen in (`since`, when the server sends one). */
  function stayHere(on) {
    steppedAway = on;
    try {
      if (on) window.sessionStorage.setItem(stayKey(), String(follow.since || "on"));
      else window.sessionStorage.removeItem(stayKey());
    } catch (e) { /* storage switched off: remembered in this page only */ }
  }

  function stayRemembered() {
    try {
      var kept = window.sessionStorage.getItem(stayKey());
      return kept !== null && (!follow.since || kept === String(follow.since));
    } catch (e) { return false; }
  }

  /* What the bar says to a participant: [text, indicator to link or null, held back?]. */
  function followWords() {
    if (!follow.on) return ["", null, false];
    var here = data("indicator"), there = follow.indicator;
    if (!there || (there === here && !steppedAway)) return ["Following the facilitator.", null, false];
    if (steppedAway) return ["The facilitator is on ", there, false];
    return ["The facilitator is on ", there, unsavedHere().length > 0];
  }

  /* The status line is a polite live region: written a moment after the bar is shown (a
     region must be in the accessibility tree before its change is announced), and only
     when what it says changes. */
  var statusTimer = null;
  function setStatus(words) {
    var status = document.getElementById("follow-status");
    var key = words.join("|");
    if (!status || status.dataset.says === key) return;
    status.dataset.says = key;
    window.clearTimeout(statusTimer);
    statusTimer = window.setTimeout(function () {
      status.textContent = words[0];
      if (!words[1]) return;
      var link = document.createElement("a");
      link.id = "follow-link";
      link.href = indicatorUrl(words[1]);
      link.textContent = words[1];
      status.appendChild(link);
      status.appendChild(document.createTextNode("."));
      if (words[2]) status.appendChild(document.createTextNode(HELD_BACK));
    }, 50);
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
    if (facilitator) return;
    var words = followWords();
    setStatus(words);
    if (words[2]) bar.dataset.held = "1"; else delete bar.dataset.held;
    var back = document.getElementById("follow-back");
    if (back) back.hidden = !(follow.on && (steppedAway || words[1]));
    var away = document.getElementById("follow-away");
    if (away) away.hidden = !(follow.on && !steppedAway);
  }

  function onFollow(message) {
    var wasOn = follow.on;
    follow = message;
    if (!follow.on) {
      stayHere(false);
      if (wasOn && data("facilitator") !== "1") announce("The facilitator turned off follow-me.");
    } else if (!wasOn) {
      steppedAway = stayRemembered();  // a reload, or follow-me just turned on
    }
    showFollow();
    if (data("facilitator") !== "1" && follow.on && !steppedAway && follow.indicator &&
        follow.indicator !== data("indicator")) {
      // Moved without asking: say why, after the new page's title (focus.js says that).
      if (goTo(follow.indicator)) afterMove = "You are following the facilitator.";
    }
  }

  // Typing into (or clearing) a form may change whether a held-back page has unsaved text.
  document.addEventListener("input", function () { if (follow.on && data("facilitator") !== "1") showFollow(); });

  /* A button that hid itself hands keyboard focus to the one that took its place. */
  function keepFocus(clicked, next) {
    var other = document.getElementById(next);
    if (clicked.hidden && other && !other.hidden && document.activeElement !== other) other.focus();
  }

  document.addEventListener("click", function (event) {
    var id = event.target && event.target.id;
    if (id === "follow-toggle") {
      send("follow", { on: !follow.on, indicator: data("indicator") || null });
    } else if (id === "follow-away") {
      stayHere(true); showFollow();
      keepFocus(event.target, "follow-back");
    } else if (id === "follow-back" || (id === "follow-link" && !event.ctrlKey && !event.metaKey &&
                                          !event.shiftKey && !event.button)) {
      event.preventDefault();
      followNow();
      keepFocus(event.target, "follow-away");
    } else if (id === "unsent-clear") {
      var box = document.getElementById("unsent");
      box.querySelector("textarea").value = "";
      box.hidden = true;
      announce("The Not saved box was cleared.");
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
    socket = io({ query: { session: session }, auth: { session: session } });  // query: a proxy routes by it
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
    if (event.detail && event.detail.target === document.body) {
      sayWhere();
      if (afterMove) { announce(afterMove); afterMove = null; }
    }
    showFollow();  // a page change, or a save that leaves this page with nothing unsaved
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
    isPush: function (el) { return !!(pushes && pushes.has(el)); },
    connected: function () { return !!(socket && socket.connected); },
    socket: function () { return socket; }, indicator: function () { return data("indicator"); },
    redraw: function () { showState(currentState()); }
  };
})();
