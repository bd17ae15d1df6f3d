/* ECSA Workshop: where keyboard focus goes when the page changes, and what is announced.
 *
 * An htmx swap removes the element a person was using, and focus falls to <body>: the next
 * Tab starts again at the skip link. So after each swap the person asked for:
 *   - a page change (boosted link or form): the error summary, else the first invalid
 *     field, else the page's <h1>; the new page's title is announced;
 *   - a block that came back with an error: its first invalid field, else its message;
 *     the error is announced;
 *   - a list that gained an item: the new item, announced;
 *   - anything else: the same control in the new content (by id, or by its form's action
 *     and the button's name, value and words, or by a link's address and words), else the
 *     nearest part of the page that is still there.
 * A live push (live.js) never moves anyone's focus: live.js holds it with hold() before
 * and puts it back with restore() after, caret and selection included.
 * Everything announced goes through one polite live region (#announcer, kept across pages).
 */
(function () {
  "use strict";

  /* ---- announcements ------------------------------------------------------------------ */

  var queued = [];
  var flushTimer = null;

  /* Say something politely. What is said within the same moment (a page change and a
     follow-me note, say) is said together: a second write would cut the first one off. */
  function announce(message) {
    if (!message) return;
    queued.push(message);
    window.clearTimeout(flushTimer);
    flushTimer = window.setTimeout(function () {
      var el = document.getElementById("announcer");
      var text = queued.join(" ");
      queued = [];
      if (!el) return;
      // Emptied first, so the same words said twice in a row are still announced.
      el.textContent = "";
      window.setTimeout(function () { el.textContent = text; }, 50);
    }, 50);
  }

  /* ---- describing an element, to find "the same one" in new content -------------------- */

  function words(el) { return (el.textContent || "").replace(/\s+/g, " ").trim(); }

  function ancestorIds(el) {
    var ids = [];
    for (var node = el.parentElement; node && node !== document.body; node = node.parentElement) {
      if (node.id) ids.push(node.id);
    }
    return ids;
  }

  function selectionOf(el) {
    try {
      return typeof el.selectionStart === "number" ? [el.selectionStart, el.selectionEnd] : null;
    } catch (e) { return null; }  // input types without a caret (radio, date) may throw
  }

  function describe(el) {
    if (!el || !el.tagName || el === document.body || el === document.documentElement) return null;
    var form = el.form || el.closest("form");
    return {
      id: el.id, tag: el.tagName, name: el.getAttribute("name"), value: el.value,
      type: el.getAttribute("type"), href: el.getAttribute("href"), words: words(el),
      action: form ? form.getAttribute("action") : null,
      within: ancestorIds(el), selection: selectionOf(el)
    };
  }

  function matches(key, el) {
    if (el.tagName !== key.tag || el.getAttribute("name") !== key.name) return false;
    if (key.tag === "A") return el.getAttribute("href") === key.href && words(el) === key.words;
    var form = el.form || el.closest("form");
    if ((form ? form.getAttribute("action") : null) !== key.action) return false;
    if (key.tag === "BUTTON") return el.value === key.value && words(el) === key.words;
    return key.type !== "radio" || el.value === key.value;
  }

  function find(key) {
    if (!key) return null;
    if (key.id) return document.getElementById(key.id);
    var found = Array.prototype.filter.call(document.getElementsByTagName(key.tag),
      function (el) { return matches(key, el); });
    return found.length === 1 ? found[0] : null;  // never guess between look-alikes
  }

  /* ---- moving focus -------------------------------------------------------------------- */

  function usable(el) {
    return el && el.isConnected && !el.disabled && !el.hidden && el.getClientRects().length > 0;
  }

  /* Focus an element; one that is not focusable by nature is made so for scripts only. */
  function focusOn(el, selection) {
    if (!el) return false;
    if (el.tabIndex < 0 && !el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus({ preventScroll: false });
    if (selection && el.setSelectionRange) {
      try { el.setSelectionRange(selection[0], selection[1]); } catch (e) { /* no caret here */ }
    }
    return document.activeElement === el;
  }

  var FOCUSABLE = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), " +
                  "select:not([disabled]), textarea:not([disabled]), summary";

  function firstControl(root) {
    return Array.prototype.filter.call(root.querySelectorAll(FOCUSABLE), usable)[0] || null;
  }

  /* The nearest part of the page that outlived the swap: an item's first control, or a
     block's heading (so a screen reader says where focus now is), or the block itself. */
  function nearest(key) {
    for (var i = 0; i < key.within.length; i++) {
      var el = document.getElementById(key.within[i]);
      if (!usable(el)) continue;
      if (el.classList.contains("ecsa-item")) return firstControl(el) || el;
      return el.querySelector("h2, h3") || el;
    }
    return null;
  }

  function lost() {
    var active = document.activeElement;
    return !active || active === document.body || !active.isConnected;
  }

  /* Before a swap the person did not ask for: what has focus inside target, if anything. */
  function hold(target) {
    var active = document.activeElement;
    return target && active && target !== active && target.contains(active) ? describe(active) : null;
  }

  /* After it: the same element again, with its caret; else the nearest part still there.
     Nothing moves if focus survived the swap (htmx itself keeps an element with an id). */
  function restore(held) {
    if (!held || !lost()) return;
    var same = find(held);
    if (!usable(same) || !focusOn(same, held.selection)) focusOn(nearest(held));
  }

  /* ---- after a swap the person asked for ---------------------------------------------- */

  // What each request the person made started from, by its XMLHttpRequest: noted when it is
  // sent, since a live push may bring the same new item before the answer does.
  var started = typeof WeakMap === "function" ? new WeakMap() : null;

  function itemIds() {
    return Array.prototype.map.call(document.querySelectorAll("li.ecsa-item[id]"), function (li) { return li.id; });
  }

  function pushed(target) {
    return !!(window.ECSA && window.ECSA.live && window.ECSA.live.isPush && window.ECSA.live.isPush(target));
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var detail = event.detail;
    if (!started || !detail.xhr || pushed(detail.target)) return;
    var trigger = detail.requestConfig && detail.requestConfig.triggeringEvent;
    var path = (detail.requestConfig && detail.requestConfig.path) || "";
    started.set(detail.xhr, {
      page: detail.target === document.body, targetId: detail.target.id,
      sent: detail.requestConfig && detail.requestConfig.verb === "post",
      anchor: path.indexOf("#") >= 0 ? decodeURIComponent(path.slice(path.indexOf("#") + 1)) : "",
      focused: describe(document.activeElement),
      submitter: describe(trigger && trigger.submitter), items: itemIds()
    });
  });

  function errorIn(root) {
    var invalid = root.querySelector("[aria-invalid=true]");
    var message = root.querySelector(".nhsuk-error-message, .ecsa-message");
    return message ? { field: usable(invalid) ? invalid : null, message: message } : null;
  }

  /* A new page: its error summary, else its first invalid field, else the part of it that a
     link pointed at (Overview#overview-1a), else its <h1>. */
  function pageChanged(anchor) {
    var main = document.getElementById("maincontent") || document.body;
    var summary = main.querySelector(".nhsuk-error-summary:not(.ecsa-message)");
    if (summary) { focusOn(summary); return; }  // role=alert: read out as it takes focus
    var error = errorIn(main);
    var pointed = typeof anchor === "string" && anchor ? document.getElementById(anchor) : null;
    if (error && error.field) focusOn(error.field);
    else if (usable(pointed)) focusOn(firstControl(pointed) || pointed);
    else focusOn(main.querySelector("h1"));
    announce(document.title);
  }

  function newItem(before) {
    var known = {};
    before.forEach(function (id) { known[id] = true; });
    return Array.prototype.filter.call(document.querySelectorAll("li.ecsa-item[id]"),
      function (li) { return !known[li.id]; })[0] || null;
  }

  /* Whether the person has gone on to something else on the page while the answer was on
     its way (clicked into the notes, say): then focus is theirs, and only words are said. */
  function movedOn(block) {
    var active = document.activeElement;
    return !lost() && !(block && block.contains(active));
  }

  /* A block came back: its error, a new item, or the control used. */
  function blockChanged(done) {
    var block = document.getElementById(done.targetId);
    var error = block && errorIn(block);
    var stay = movedOn(block);
    if (error) {
      if (!stay) focusOn(error.field || error.message);
      announce(words(error.message));
      return;
    }
    var item = newItem(done.items);
    if (item) {
      if (!stay) focusOn(item);
      announce("Added: " + words(item.querySelector(".ecsa-item__text") || item));
      return;
    }
    if (!lost()) return;
    var used = done.focused || done.submitter;
    var same = find(used);
    if (usable(same) && focusOn(same)) {
      if (done.sent && same.tagName === "BUTTON") announce(used.words + ": done.");  // e.g. Save my rating
      return;
    }
    if (used && used.within.some(function (id) { return /^(evidence|action)-/.test(id) && !document.getElementById(id); })) {
      announce("Removed.");
    }
    if (used) focusOn(nearest(used));
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    var done = started && event.detail.xhr && started.get(event.detail.xhr);
    if (!done) return;
    started.delete(event.detail.xhr);
    if (done.page) pageChanged(done.anchor);
    else blockChanged(done);
  });

  // Back and forward restore a page from htmx's history: the same as any page change.
  document.addEventListener("htmx:historyRestore", function () { pageChanged(); });

  /* ---- the error summary -------------------------------------------------------------- */

  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("#maincontent .nhsuk-error-summary:not(.ecsa-message)");
    if (summary) focusOn(summary);
  });

  /* A summary link focuses its input and shows the question (the legend or label) above it,
     as NHS.UK frontend does: a plain jump to the input would hide its question off screen. */
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".nhsuk-error-summary a[href^='#']");
    var input = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!input) return;
    event.preventDefault();
    var question = input.closest("fieldset");
    question = (question && question.querySelector("legend")) ||
               document.querySelector("label[for='" + input.id + "']") || input;
    question.scrollIntoView();
    input.focus({ preventScroll: true });
  });

  window.ECSA = window.ECSA || {};
  window.ECSA.focus = { announce: announce, hold: hold, restore: restore };
})();
