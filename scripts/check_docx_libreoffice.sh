#!/usr/bin/env bash
# Check that a Word board report opens and lays out in another office suite: convert it to
# PDF with LibreOffice, headless (Debian: apt-get install libreoffice-writer-nogui).
#
#   scripts/check_docx_libreoffice.sh [report.docx]
#
# With no file, builds the report of a full session (86 indicators, as bench/outputs_bench.py
# fills them) first. Prints the PDF's path and page count; fails if the conversion does.
# Not part of CI, which does not install LibreOffice: skipped (exit 0) when it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

office="$(command -v soffice || command -v libreoffice || true)"
if [ -z "$office" ]; then
  echo "skipped: LibreOffice is not installed (apt-get install libreoffice-writer-nogui)"
  exit 0
fi
python="${PYTHON:-python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

docx="${1:-}"
what="$docx"
if [ -z "$docx" ]; then
  docx="$work/report.docx"
  what="the Word report of a full session"
  "$python" - "$docx" <<'PY'
import sys, tempfile
from bench.outputs_bench import full_history
from ecsa import create_app, docx_report, outputs, record
app = create_app({"DATA_DIR": tempfile.mkdtemp(prefix="ecsa-docx-check-") + "/data"})
registry = app.extensions["ecsa"]
details = {"title": "Full assessment", "organisation": "Example NHS Trust", "date": "2026-12-01",
           "scope": [s.number for s in registry.framework.sections]}
workshop, _, _ = registry.create(details, "Fay Facilitator", "staff", history=full_history(registry.framework))
report = outputs.report(record.export(workshop), registry.framework)
open(sys.argv[1], "wb").write(docx_report.build(report))
PY
fi

# A profile of its own, so a LibreOffice already open on this desktop is not asked instead.
timeout 180 "$office" --headless --norestore "-env:UserInstallation=file://$work/profile" \
  --convert-to pdf --outdir "$work" "$docx" >"$work/log" 2>&1 || { cat "$work/log"; exit 1; }
pdf="$work/$(basename "${docx%.*}").pdf"
if [ ! -s "$pdf" ]; then
  cat "$work/log"
  echo "FAILED: LibreOffice made no PDF from $docx"
  exit 1
fi
pages="$("$python" -c 'import re, sys; print(len(re.findall(rb"/Type\s*/Page\b", open(sys.argv[1], "rb").read())))' "$pdf")"
keep="${TMPDIR:-/tmp}/$(basename "$pdf")"
cp "$pdf" "$keep"
echo "ok: $what converted by $("$office" --version 2>/dev/null | head -1) to $keep ($pages pages)"
