/* ECSA Workshop: a session moving to another server (README "More than one process").
 *
 * While a session's room moves from one process to another, its requests are answered
 * 503 with Retry-After. htmx does not swap such an answer (templates/base.html), so the
 * form stays exactly as it was typed; this sends the request again after Retry-After
 * seconds, quietly. The live bar (#connection, or a note beside the form on pages without
 * one) says "Moving to another server – trying again…", announced once. After MAX_TRIES
 * the form is left as typed and an error beside it says to try again in a minute.
 */
(function () {
  "use strict";

  var MAX_TRIES = 10;
  var WAIT_MOST = 10;  // seconds: a longer Retry-After is not waited for in full
  var MOVING = "Moving to another server – trying again…";
  var GAVE_UP = "This was not sent: the session is still moving to another server. " +
    "What you typed is still here – try again in a minute.";
  var retries = new Map();  // requesting element -> { tries, timer, gaveUp }
  var announced = false;

  function announce(message) { if (window.ECSA.live) window.ECSA.live.announce(message); }

  /* Let live.js draw the bar again: it shows MOVING while a retry is waiting (words()). */
  function redrawBar() { if (window.ECSA.live && window.ECSA.live.redraw) window.ECSA.live.redraw(); }

  function waiting() {
    var any = false;
    retries.forEach(function (state) { if (!state.gaveUp) any = true; });
    return any;
  }

  function seconds(xhr) {
    var value = parseInt(xhr.getResponseHeader("Retry-After"), 10);  // an HTTP date: 1 s
    return isFinite(value) && value >= 0 ? Math.min(value, WAIT_MOST) : 1;
  }

  /* The note beside the form that made the request (pages without a live bar, and the
     final error): made on first use, one per form. */
  function note(elt, create) {
    var form = elt.closest("form");
    var place = form || document.getElementById("maincontent");
    if (!place) return null;
    var found = place.querySelector(":scope > .ecsa-moving-note");
    if (found || !create) return found;
    found = document.createElement("p");
    found.className = "ecsa-moving-note";
    place.insertBefore(found, place.firstChild);
    return found;
  }

  function showNote(elt, text, isError) {
    var el = note(elt, true);
    if (!el) return;
    el.className = "ecsa-moving-note" + (isError ? " nhsuk-error-message" : "");
    el.textContent = "";
    if (isError) {
      var hidden = document.createElement("span");
      hidden.className = "nhsuk-u-visually-hidden";
      hidden.textContent = "Error: ";
      el.appendChild(hidden);
    }
    el.appendChild(document.createTextNode(text));
  }

  function clearNote(elt) {
    var el = note(elt, false);
    if (el) el.remove();
  }

  /* What the person sent that reading the form again would not give (the button they
     pressed): everything else is read afresh, so what was typed meanwhile goes too. */
  function notInForm(elt, sent) {
    var form = elt.closest("form");
    var now = form ? new FormData(form) : new FormData();
    var values = {};
    sent.forEach(function (value, key) {
      if (now.has(key) || typeof value !== "string") return;
      var all = sent.getAll(key);
      values[key] = all.length > 1 ? all : value;
    });
    return values;
  }

  function again(elt, detail) {
    var state = retries.get(elt);
    if (!state) return;
    state.timer = null;
    if (!elt.isConnected) { finish(elt); return; }  // the page moved on: nothing to send
    var config = detail.requestConfig;
    htmx.ajax(config.verb, config.path, {
      source: elt, event: config.triggeringEvent, values: notInForm(elt, config.formData)
    });
  }

  function retry(elt, detail) {
    var state = retries.get(elt) || { tries: 0, timer: null, gaveUp: false };
    retries.set(elt, state);
    state.tries += 1;
    if (state.tries > MAX_TRIES) { giveUp(elt, state); return; }
    state.timer = window.setTimeout(function () { again(elt, detail); }, seconds(detail.xhr) * 1000);
    if (!document.getElementById("connection")) showNote(elt, MOVING, false);
    if (!announced) { announced = true; announce(MOVING); }
    redrawBar();
  }

  function giveUp(elt, state) {
    state.gaveUp = true;
    showNote(elt, GAVE_UP, true);
    announce(GAVE_UP);
    if (!waiting()) announced = false;
    redrawBar();
  }

  function finish(elt) {
    retries.delete(elt);
    clearNote(elt);
    if (!waiting()) announced = false;
    redrawBar();
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var state = retries.get(event.detail.elt);
    if (!state) return;
    // The person sent it again themselves (or this is the retry): one request, one timer.
    if (state.timer) { window.clearTimeout(state.timer); state.timer = null; }
    if (state.gaveUp) { state.tries = 0; state.gaveUp = false; redrawBar(); }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    // The element that asked: a swap may have replaced it, and then htmx says so again on a
    // parent still in the page, naming the parent in detail.elt.
    var detail = event.detail, elt = (detail.requestConfig && detail.requestConfig.elt) || detail.elt;
    if (detail.xhr && detail.xhr.status === 503 && detail.xhr.getResponseHeader("Retry-After") !== null) {
      retry(elt, detail);
    } else if (retries.has(elt)) {
      finish(elt);
    }
  });

  window.ECSA = window.ECSA || {};
  window.ECSA.moving = {
    /* What the live bar says while a request waits to be sent again, or "". */
    words: function () { return waiting() ? MOVING : ""; }
  };
})();
