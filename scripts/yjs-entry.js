// Entry for static/vendor/yjs/yjs.min.js, built by `python scripts/vendor.py --only yjs`
// (see "built" in scripts/vendor.json and scripts/vendor_build.py). esbuild bundles it,
// with lib0, as a classic-script IIFE that defines the global `Y`: the whole Yjs API
// (Doc, Text, applyUpdate, encodeStateAsUpdate, UndoManager, relative positions, ...).
// Updates are Yjs update format v1, which the server's pycrdt (Yrs) reads and writes.
export * from "yjs";
