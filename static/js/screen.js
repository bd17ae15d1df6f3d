/* ECSA Workshop: the room screen (templates/screen.html), kept up to date.
 *
 * The screen is no participant: it opens its own Socket.IO connection as a screen (the
 * server lets it listen to the session's room and refuses anything it sends) and, whenever
 * the room changes, fetches its main block again, rendered by the server as a participant
 * would see it. So it never holds anything a participant could not see.
 *
 * Fetches are paced: a change or a move of the facilitator shows within REFRESH ms; typing
 * (notes, presence) at most once every QUIET ms, so a busy room does not flood the server.
 * A move to another indicator, and a reveal, are announced politely; nothing else is, and
 * nothing flashes (the block is swapped in place).
 */
(function () {
  "use strict";

  var REFRESH = 300;   // ms from a change to the fetch that shows it
  var QUIET = 1000;    // ms between fetches caused by typing and presence, at least
  var socket = null;
  var due = null;      // when the next fetch is due (ms since the epoch), if one is
  var pending = null;  // its timer
  var busy = false;    // a fetch is under way
  var again = false;   // something changed during it: fetch once more when it is done
  var lastFetch = 0;

  function screen() { return document.querySelector("[data-screen]"); }

  function announce(text) {
    if (window.ECSA && window.ECSA.focus) window.ECSA.focus.announce(text);
  }

  function showState(words) {
    var el = document.getElementById("screen-connection");
    if (el) el.textContent = words;
  }

  /* Fetch within `delay` ms (a fetch already due sooner stays as it is). */
  function schedule(delay) {
    var at = Date.now() + delay;
    if (due !== null && due <= at) return;
    window.clearTimeout(pending);
    due = at;
    pending = window.setTimeout(refresh, delay);
  }

  function soon() { schedule(REFRESH); }
  function quietly() { schedule(Math.max(REFRESH, lastFetch + QUIET - Date.now())); }

  /* Say what a new block changed: another indicator, or the ratings revealed. */
  function sayWhatChanged(before, after) {
    if (before.indicator !== after.dataset.indicator) {
      announce("Now showing indicator " + after.dataset.indicator);
    } else if (before.revealed === "0" && after.dataset.revealed === "1") {
      announce("Ratings revealed for indicator " + after.dataset.indicator);
    }
  }

  function refresh() {
    due = null;
    var el = screen();
    if (!el) return;
    if (busy) { again = true; return; }
    busy = true;
    lastFetch = Date.now();
    var before = { indicator: el.dataset.indicator, revealed: el.dataset.revealed };
    var url = el.dataset.fragment + "&showing=" + encodeURIComponent(before.indicator);
    window.fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var target = screen();
        if (!target) return;
        // htmx settles the new block as it does any swap, so timer.js counts down in it.
        htmx.swap(target, html, { swapStyle: "outerHTML" });
        var now = screen();
        if (now) sayWhatChanged(before, now);
      })
      .catch(function () {
        showState("Could not update this screen just now: it tries again at the next change. Reload to be sure.");
      })
      .then(function () {
        busy = false;
        if (again) { again = false; soon(); }
      });
  }

  function connect() {
    var el = screen();
    if (!el) {  // the page moved on (a link followed in place): the screen's connection goes
      if (socket) { socket.disconnect(); socket = null; }
      return;
    }
    if (socket || typeof io === "undefined" || typeof htmx === "undefined") return;
    var everConnected = false;
    // query: a proxy in front of several processes routes the socket by it (deploy/nginx-ecsa.conf)
    socket = io({ query: { session: el.dataset.session }, auth: { session: el.dataset.session, screen: true } });
    socket.on("connect", function () {
      showState("This screen updates live.");
      if (everConnected) soon();  // catch up on what changed while it was away
      everConnected = true;
    });
    socket.on("disconnect", function () {
      showState("Reconnecting… this screen shows what it last received.");
    });
    socket.on("connect_error", function (error) {
      showState(error && error.message === "Open the room screen link before connecting."
        ? "This screen is no longer allowed to follow the session. Ask the facilitator for a new room screen link."
        : "Reconnecting… this screen shows what it last received.");
    });
    socket.on("changed", soon);
    socket.on("follow", soon);
    socket.on("notes_update", quietly);
    socket.on("presence", quietly);  // who is here (X of Y), and where the facilitator went without follow-me
  }

  document.addEventListener("DOMContentLoaded", connect);
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail && event.detail.target === document.body) connect();
  });
})();
