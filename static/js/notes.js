/* ECSA Workshop: discussion notes co-edited through Yjs.
 *
 * The textarea stays a plain textarea (so the same form works without JavaScript). Each
 * input event becomes a Yjs edit of the shared text; the server (pycrdt) stores every
 * update durably and passes it on. Remote updates are merged and the caret is kept where
 * it was relative to the surrounding text. Offsets are UTF-16 code units – JavaScript's
 * own string indices and Yjs's – and never split a surrogate pair, so emoji survive.
 */
(function () {
  "use strict";

  var binding = null;
  var TYPING_EVERY_MS = 1500;

  /* Yjs bytes travel as base64 text: one WebSocket frame per message, where binary data
     would take two (Socket.IO sends it as a separate attachment). */
  function toText(bytes) {
    var chars = "";
    for (var i = 0; i < bytes.length; i++) chars += String.fromCharCode(bytes[i]);
    return btoa(chars);
  }
  function toBytes(text) {
    var chars = atob(text), bytes = new Uint8Array(chars.length);
    for (var i = 0; i < chars.length; i++) bytes[i] = chars.charCodeAt(i);
    return bytes;
  }

  function isHigh(code) { return code >= 0xd800 && code <= 0xdbff; }
  function isLow(code) { return code >= 0xdc00 && code <= 0xdfff; }

  /* The smallest edit turning `before` into `after`: [index, deleteCount, insertText]. */
  function diff(before, after) {
    var start = 0, max = Math.min(before.length, after.length);
    while (start < max && before.charCodeAt(start) === after.charCodeAt(start)) start++;
    if (start > 0 && isHigh(before.charCodeAt(start - 1))) start--;
    var endBefore = before.length, endAfter = after.length;
    while (endBefore > start && endAfter > start &&
           before.charCodeAt(endBefore - 1) === after.charCodeAt(endAfter - 1)) { endBefore--; endAfter--; }
    if (endBefore < before.length && isLow(before.charCodeAt(endBefore))) { endBefore++; endAfter++; }
    return [start, endBefore - start, after.slice(start, endAfter)];
  }

  /* My edit of `base`, replayed on `theirs`: their words are kept, mine are added. */
  function rebase(base, mine, theirs) {
    if (theirs === base) return mine;
    var edit = diff(base, mine), at = Math.min(edit[0], theirs.length);
    return theirs.slice(0, at) + edit[2] + theirs.slice(at);
  }

  function Binding(area) {
    this.area = area;
    this.indicator = area.dataset.indicator;
    this.doc = new Y.Doc();
    this.text = this.doc.getText("notes");
    this.lastTyping = 0;
    this.synced = false;
    this.base = area.defaultValue;  // the text the page was rendered with
    // No readonly while the first sync is under way: keystrokes into a readonly field
    // vanish without a trace. What is typed before the sync is replayed on top of it.
    var self = this;
    this.onInput = function () { self.local(); };
    area.addEventListener("input", this.onInput);
    this.doc.on("update", function (update, origin) { if (origin === "local") self.send(update); });
    // Live notes save as they are typed: the form's Save button (for pages without
    // JavaScript) would apply the same words a second time, so it goes away.
    this.form = area.form;
    this.onSubmit = function (event) { event.preventDefault(); };
    if (this.form) {
      this.form.addEventListener("submit", this.onSubmit);
      this.form.querySelectorAll("button[type=submit]").forEach(function (b) { b.hidden = true; });
      var hint = document.getElementById(area.id + "-hint");
      if (hint) hint.textContent = "Everyone's typing appears here as it happens, and is saved as you type.";
    }
    this.resync();
  }

  Binding.prototype.live = function () { return window.ECSA.live; };

  /* Exchange state vectors with the server: take what we lack, send what it lacks. */
  Binding.prototype.resync = function () {
    var self = this;
    this.live().send("notes_sync", { indicator: this.indicator, state_vector: toText(Y.encodeStateVector(this.doc)) },
      function (ack) {
        if (!ack.ok || binding !== self) return;
        self.remote({ indicator: self.indicator, update: ack.update });
        var mine = Y.encodeStateAsUpdate(self.doc, toBytes(ack.state_vector));
        if (self.synced && mine.length > 2) self.send(mine, function () { self.live().hold(false); }, true);
        else self.live().hold(false);
        if (!self.synced) {
          // Typed in the moment before this page held the document: keep it, as an edit
          // of the text as it now stands.
          var typed = self.base !== null && self.area.value !== self.base;
          self.area.value = typed ? rebase(self.base, self.area.value, self.text.toString())
                                  : self.text.toString();
          self.synced = true;
          if (typed) self.local();
        }
        self.area.readOnly = !!ack.locked;
        if (ack.locked) self.live().lockedMeanwhile();
      });
  };

  /* The person typed: turn the textarea's change into one Yjs edit. */
  Binding.prototype.local = function () {
    if (!this.synced) return;  // replayed once the first sync arrives (see resync)
    var edit = diff(this.text.toString(), this.area.value);
    var text = this.text;
    this.doc.transact(function () {
      if (edit[1]) text.delete(edit[0], edit[1]);
      if (edit[2]) text.insert(edit[0], edit[2]);
    }, "local");
    var now = Date.now();
    if (now - this.lastTyping > TYPING_EVERY_MS) {
      this.lastTyping = now;
      this.live().send("typing", { indicator: this.indicator });
    }
  };

  /* Send an update; `sent` runs once the server has it. `resyncing`: this is what a sync
     found the server lacked, so a refusal asking for a sync is not met with another. */
  Binding.prototype.send = function (update, sent, resyncing) {
    var self = this;
    // Offline, edits are not queued one message per keystroke: the resync on reconnecting
    // sends all the server lacks at once. (Queued, they reached the server in one
    // long-polling request with too many packets, which it dropped whole.)
    if (!this.live().connected()) { this.live().hold(true); return; }
    this.live().send("notes_update", { indicator: this.indicator, update: toText(update) }, function (ack) {
      if (ack.ok && sent) sent();
      if (ack.ok || binding !== self) return;
      // Built on an edit the server never got (lost when it restarted, say): nothing is
      // wrong with the words, so exchange state vectors and send all it lacks, at once.
      if (ack.resync && !resyncing) { self.resync(); return; }
      // Refused (locked meanwhile, or unreadable): keep the person's words visible, then
      // start again from the server's text so this page agrees with everyone else's.
      self.live().showUnsent([self.area.value], ack.error || "Your notes were not saved.");
      self.restart();
    });
  };

  Binding.prototype.restart = function () {
    this.doc.destroy();
    this.doc = new Y.Doc();
    this.text = this.doc.getText("notes");
    var self = this;
    this.doc.on("update", function (update, origin) { if (origin === "local") self.send(update); });
    this.synced = false;
    this.base = null;  // after a refusal, take the server's text (the person's is in #unsent)
    this.resync();
  };

  /* Someone else's update: merge it and keep the caret beside the same characters. */
  Binding.prototype.remote = function (message) {
    if (message.indicator !== this.indicator) return;
    var area = this.area, text = this.text;
    // A caret sticks to the character before it (assoc -1), so what others type at the
    // same place goes after it and the next key pressed here continues this person's
    // word; stuck to the right, the caret jumped past their text and words interleaved.
    // A selection keeps exactly its characters: its start sticks to its first one.
    var collapsed = area.selectionStart === area.selectionEnd;
    var anchors = [[area.selectionStart, collapsed ? -1 : 0], [area.selectionEnd, -1]].map(function (at) {
      return Y.createRelativePositionFromTypeIndex(text, at[0], at[1]);
    });
    Y.applyUpdate(this.doc, toBytes(message.update), "remote");
    var value = text.toString();
    if (!this.synced || area.value === value) return;
    var focused = document.activeElement === area;
    area.value = value;
    if (focused) {
      var doc = this.doc;
      var at = anchors.map(function (rel) {
        var abs = Y.createAbsolutePositionFromRelativePosition(rel, doc);
        return abs ? abs.index : value.length;
      });
      area.setSelectionRange(at[0], at[1]);
    }
  };

  Binding.prototype.detach = function () {
    this.area.removeEventListener("input", this.onInput);
    if (this.form) this.form.removeEventListener("submit", this.onSubmit);
    this.doc.destroy();
  };

  window.ECSA = window.ECSA || {};
  window.ECSA.notes = {
    diff: diff,
    /* Bind the page's live notes textarea (after each page or block swap). */
    attach: function () {
      var area = document.querySelector("textarea[data-live-notes]");
      if (binding && binding.area === area) return;
      if (binding) binding.detach();
      binding = area && typeof Y !== "undefined" && window.ECSA.live ? new Binding(area) : null;
    },
    resync: function () { if (binding) binding.resync(); },
    remote: function (message) { if (binding) binding.remote(message); }
  };
})();
