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
  var flightCount = 0;  // numbers each message whose answer a binding waits for
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
    this.lastTyping = 0;
    this.synced = false;
    this.base = area.defaultValue;  // the text the page was rendered with
    this.flights = {};       // notes updates sent and not yet answered, by token
    this.sentOn = null;      // the socket they were sent on
    this.refused = null;     // why the server refused an edit; unsent until reconciled
    this.reconciling = 0;    // token of the reconciling sync in flight, if any
    this.detached = false;
    this.use(new Y.Doc());
    // No readonly while the first sync is under way: keystrokes into a readonly field
    // vanish without a trace. What is typed before the sync is replayed on top of it.
    var self = this;
    this.onInput = function () { self.local(); };
    area.addEventListener("input", this.onInput);
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

  /* Work on this document from now on (a new one has a new Yjs client id, so edits the
     server refused under the old one can never be asked for again). Once the server has
     refused an edit, later ones are kept here, unsent, until `reconcile` has run. */
  Binding.prototype.use = function (doc) {
    var self = this;
    if (this.doc) this.doc.destroy();
    this.doc = doc;
    this.text = doc.getText("notes");
    doc.on("update", function (update, origin) {
      if (origin === "local" && !self.refused) self.send(update);
    });
  };

  /* Exchange state vectors with the server: take what we lack, send what it lacks. */
  Binding.prototype.resync = function () {
    var self = this, socket = this.live().socket();
    if (socket && socket.id !== this.sentOn) {
      // Reconnected: answers to messages sent on the old connection never come.
      this.flights = {};
      if (this.reconciling > 0) this.reconciling = 0;
    }
    if (this.refused) { this.settle(); return; }  // reconciled once all is answered
    var token = this.inFlight();
    this.live().send("notes_sync", { indicator: this.indicator, state_vector: toText(Y.encodeStateVector(this.doc)) },
      function (ack) {
        if (!self.landed(token)) return;
        // A page that has gone still sends what it typed (offline, say) and the server lacks.
        if (ack.ok && (!self.detached || self.synced)) self.syncWith(ack);
        self.settle();
      });
  };

  Binding.prototype.syncWith = function (ack) {
    var self = this;
    if (!this.detached) this.remote({ indicator: this.indicator, update: ack.update });
    var mine = Y.encodeStateAsUpdate(this.doc, toBytes(ack.state_vector));
    if (this.synced && mine.length > 2 && !this.refused) {
      this.send(mine, function () { self.live().hold(false); }, true);
    } else this.live().hold(false);
    if (this.detached) return;
    if (!this.synced) {
      // Typed in the moment before this page held the document: keep it, as an edit
      // of the text as it now stands.
      var typed = this.base !== null && this.area.value !== this.base;
      this.area.value = typed ? rebase(this.base, this.area.value, this.text.toString()) : this.text.toString();
      this.synced = true;
      if (typed) this.local();
    }
    this.area.readOnly = !!ack.locked;
    if (ack.locked) this.live().lockedMeanwhile();
  };

  /* Count a message whose answer this binding waits for; `landed` when it comes (false if
     it was sent on a connection since lost, whose answers socket.io never delivers). */
  Binding.prototype.inFlight = function () {
    var token = ++flightCount;
    this.flights[token] = true;
    this.sentOn = this.live().connected() ? this.live().socket().id : null;
    return token;
  };
  Binding.prototype.landed = function (token) {
    if (!this.flights[token]) return false;
    delete this.flights[token];
    return true;
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
    if (now - this.lastTyping > TYPING_EVERY_MS && !this.refused) {
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
    var token = this.inFlight();
    this.live().send("notes_update", { indicator: this.indicator, update: toText(update) }, function (ack) {
      if (!self.landed(token)) return;
      if (ack.ok) { if (sent) sent(); }
      // Built on an edit the server never got (lost when it restarted, say): nothing is
      // wrong with the words, so exchange state vectors and send all it lacks, at once.
      else if (ack.resync && !resyncing && !self.detached && !self.refused) self.resync();
      // Refused (locked meanwhile, or unreadable): nothing more is sent; once every edit
      // in flight is answered, what the server did not take goes to the "Not saved" box.
      else if (!self.refused) self.refused = ack.error || "Your notes were not saved.";
      self.settle();
    });
  };

  /* Once no edit is waiting for its answer: reconcile a refusal, or let a page that has
     gone (the block was swapped, say by the lock itself) release its document. */
  Binding.prototype.settle = function () {
    if (Object.keys(this.flights).length || this.reconciling) return;
    if (this.refused) this.reconcile();
    else if (this.detached) this.doc.destroy();
  };

  /* After a refusal: fetch the notes as the server holds them, show in the "Not saved"
     box exactly what this page typed that the server lacks (each character once, however
     many edits were refused, and including what was typed while waiting), then carry on
     from the server's text. The server's notes no longer change once locked, and every
     edit this page sent has been answered, so nothing saved is shown as unsaved. */
  Binding.prototype.reconcile = function (tries) {
    var self = this, token = ++flightCount;
    this.reconciling = token;
    this.sentOn = this.live().connected() ? this.live().socket().id : null;
    var nothing = toText(Y.encodeStateVector(new Y.Doc()));  // so the answer is the whole document
    this.live().send("notes_sync", { indicator: this.indicator, state_vector: nothing },
      function (ack) {
        if (self.reconciling !== token) return;
        self.reconciling = 0;
        if (!ack.ok && (tries || 0) < 3) {  // not answered (throttled, say): ask again soon
          self.reconciling = -1;
          window.setTimeout(function () {
            if (self.reconciling === -1) { self.reconciling = 0; self.reconcile((tries || 0) + 1); }
          }, 1000);
          return;
        }
        var why = self.refused, unsaved = ack.ok ? self.unsavedAgainst(toBytes(ack.update)) : [self.area.value];
        self.refused = null;
        self.live().hold(false);  // what was held offline is now saved or in the box
        if (unsaved.length) self.live().showUnsent(unsaved, why);
        if (self.detached || !ack.ok) { self.settle(); return; }
        var doc = new Y.Doc();
        Y.applyUpdate(doc, toBytes(ack.update), "remote");
        self.use(doc);
        var caret = Math.min(self.area.selectionStart, self.text.length);
        self.area.value = self.text.toString();
        if (document.activeElement === self.area) self.area.setSelectionRange(caret, caret);
        if (ack.locked) { self.area.readOnly = true; self.live().lockedMeanwhile(); }
      });
  };

  /* The runs of text this page's document holds that the server's (`state`) lacks. */
  Binding.prototype.unsavedAgainst = function (state) {
    var server = new Y.Doc(), runs = [];
    Y.applyUpdate(server, state);
    var text = server.getText("notes");
    text.observe(function (event) {
      event.delta.forEach(function (op) { if (typeof op.insert === "string" && op.insert) runs.push(op.insert); });
    });
    Y.applyUpdate(server, Y.encodeStateAsUpdate(this.doc, Y.encodeStateVector(server)));
    server.destroy();
    return runs;
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

  /* The textarea has left the page. Edits still unanswered may yet be refused (a lock
     swaps the block while this page's last keys are in flight): the document is kept
     until they are answered, so what the server refused still reaches the "Not saved" box. */
  Binding.prototype.detach = function () {
    this.area.removeEventListener("input", this.onInput);
    if (this.form) this.form.removeEventListener("submit", this.onSubmit);
    this.detached = true;
    this.settle();
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
