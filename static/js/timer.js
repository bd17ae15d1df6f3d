/* ECSA Workshop: the indicator's timer, counting down on every page.
 *
 * The server renders the timer block (templates/_timer.html) with where the timer stands
 * and the server's clock at that moment (data-now-ms). This counts down from there,
 * corrected by how far this device's clock is from the server's, so every screen shows the
 * same time left whatever its own clock says; without JavaScript the block shows the end time.
 *
 * The countdown is not a live region (it changes every second). It is announced politely
 * twice: at one minute left and when time is up. Each is said once per timer (remembered
 * per tab in sessionStorage, so a reload does not say it again), not again after Pause and
 * Resume, and again only if Add a minute takes the timer back above it.
 */
(function () {
  "use strict";

  var MARKS = [
    { name: "minute", at: 60000, say: "One minute left on the timer for indicator " },
    { name: "end", at: 0, say: "Time is up for indicator " }
  ];
  var LATE = 10000;   // ms: a mark passed longer ago than this (a page opened late) is not announced
  var TICK = 250;     // ms between looks at the clock, so each second shows on time
  var ticking = null;

  function block() { return document.getElementById("timer"); }

  function liveData(name) {
    var live = document.getElementById("live");
    return live ? live.dataset[name] || "" : "";
  }

  /* The server's clock now, as this block's render gave it: the difference between the two
     clocks is taken once, when the block first arrives on this page. */
  function serverNow(el) {
    if (el.ecsaClockOffset === undefined) el.ecsaClockOffset = Number(el.dataset.nowMs) - Date.now();
    return Date.now() + el.ecsaClockOffset;
  }

  /* "4:32", "0:05", "1:02:03" for a number of milliseconds, rounded up to the second. */
  function clock(ms) {
    var seconds = Math.ceil(ms / 1000);
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    var mm = h ? (m < 10 ? "0" : "") + m : String(m);
    return (h ? h + ":" : "") + mm + ":" + (s < 10 ? "0" : "") + s;
  }

  function remembered(key, value) {
    try {
      if (value === undefined) return window.sessionStorage.getItem(key);
      if (value === null) window.sessionStorage.removeItem(key);
      else window.sessionStorage.setItem(key, value);
    } catch (e) { /* storage switched off: marks may be said again after a reload */ }
    return null;
  }

  function announce(text) {
    if (window.ECSA && window.ECSA.live) window.ECSA.live.announce(text);
  }

  /* Say each mark this timer has just reached, once; forget a mark it is above again. */
  function sayMarks(el, left) {
    MARKS.forEach(function (mark) {
      var key = ["ecsa.timer", liveData("session"), el.dataset.indicator, el.dataset.startedMs, mark.name].join(".");
      if (left > mark.at) { remembered(key, null); return; }
      if (remembered(key)) return;
      remembered(key, "said");
      if (mark.at - left <= LATE) announce(mark.say + el.dataset.indicator);
    });
  }

  /* Time is up on this page: say so, and (for the facilitator) fetch the block, whose
     controls change with it (Pause gives way to Start a new timer). */
  function finish(el) {
    el.dataset.timerState = "finished";
    el.classList.remove("ecsa-timer--running");
    el.classList.add("ecsa-timer--finished");
    var here = liveData("here");
    if (liveData("facilitator") === "1" && here && typeof htmx !== "undefined") {
      htmx.ajax("GET", here + "?block=timer", { source: el, target: el, swap: "outerHTML" });
    }
  }

  function tick() {
    var el = block();
    if (!el || el.dataset.timerState !== "running") { stop(); return; }
    var left = Math.max(0, Number(el.dataset.endsAtMs) - serverNow(el));
    var shown = el.querySelector("[data-timer-left]");
    var words = left > 0 ? clock(left) + " left" : "Time is up";
    if (shown && shown.textContent !== words) shown.textContent = words;
    var ends = el.querySelector("[data-timer-ends]");
    if (ends) ends.hidden = false;
    sayMarks(el, left);
    if (left <= 0) { finish(el); stop(); }
  }

  function stop() {
    window.clearInterval(ticking);
    ticking = null;
  }

  /* Count down if this page shows a running timer (at load, and whenever a block arrives:
     a page change, a form's answer, a push from the live layer, a catch-up after reconnecting). */
  function start() {
    var el = block();
    if (!el || el.dataset.timerState !== "running") return;
    tick();
    if (!ticking && el.dataset.timerState === "running") ticking = window.setInterval(tick, TICK);
  }

  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", start);
})();
