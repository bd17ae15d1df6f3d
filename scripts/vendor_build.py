"""Locally built bundles for scripts/vendor.py (the "built" list in vendor.json).

A built entry names an entry file in this repository, the npm packages it is
built from (each pinned by exact version and sha512 integrity, like the
"packages" list) and esbuild's command-line flags.  Building one

  1. ``npm pack``s every pinned input and checks the tarball's sha512
     (computed here) against vendor.json -- vendor.py's own code does this,
  2. ``npm install --no-save --ignore-scripts``s exactly those local tarballs
     in a temporary directory (npm fetches only esbuild's platform binary,
     ``@esbuild/<os>-<cpu>``, which esbuild's package.json pins to the same
     version) and refuses any installed package that is not pinned,
  3. runs the pinned esbuild on a copy of the entry file, then checks, from
     esbuild's metafile, that exactly the inputs marked ``"bundled": true``
     ended up in the output (their LICENSE files are copied next to it),
  4. loads the result in a fresh Node ``vm`` context and checks that the
     global exists, has the exports vendor.json requires, and that an update
     round-trips between two documents.

The MANIFEST.json item records every input's version, licence, integrity and
bytes in the output, the commands run, and the sha256 of every file written.
Nothing platform-specific is recorded, so ``--check`` on another machine
compares equal as long as esbuild's output is byte-identical (it is
deterministic for a given version).

This module imports nothing from vendor.py; vendor.py passes itself as ``v``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
PLATFORM_BINARY = re.compile(r"^@esbuild/[a-z0-9-]+$")

SMOKE_TEST = r"""
const fs = require("fs"), vm = require("vm");
const [file, name, required] = process.argv.slice(1);
const ctx = vm.createContext({ console, crypto: globalThis.crypto, TextEncoder, TextDecoder,
                               setTimeout, clearTimeout, queueMicrotask });
vm.runInContext(fs.readFileSync(file, "utf8"), ctx, { filename: file });
const Y = ctx[name];
if (!Y || typeof Y !== "object") throw new Error("bundle defines no global " + name);
const missing = JSON.parse(required).filter((k) => typeof Y[k] !== "function");
const text = "h\u00e9llo \u{1F600} w\u00f6rld";
const roundTrip = vm.runInContext(`(() => {
  const a = new ${name}.Doc(); a.getText("t").insert(0, ${JSON.stringify(text)});
  const b = new ${name}.Doc(); ${name}.applyUpdate(b, ${name}.encodeStateAsUpdate(a));
  return b.getText("t").toString(); })()`, ctx);
console.log(JSON.stringify({ exports: Object.keys(Y).length, missing, ok: roundTrip === text }));
"""


def validate(entry: dict, v) -> None:
    """Called from vendor.py's load_config for every "built" entry."""
    name = entry["name"]

    def bad(msg: str) -> None:
        raise v.VendorError(f"vendor.json: built entry {name}: {msg}")

    for key in ("entry", "output", "global", "npm", "esbuild_args"):
        if not entry.get(key):
            bad(f"{key!r} is required")
    if not (v.ROOT / entry["entry"]).is_file():
        bad(f"entry file {entry['entry']} does not exist")
    if "/" in entry["output"] or entry["output"].startswith(("LICENSE", ".")):
        bad(f"bad output name {entry['output']!r}")
    if not IDENTIFIER.match(entry["global"]):
        bad(f"global {entry['global']!r} is not a JavaScript identifier")
    seen = set()
    for dep in entry["npm"]:
        if not v.NPM_NAME.match(dep.get("name", "")) or dep["name"] in seen:
            bad(f"bad or duplicate npm input {dep.get('name')!r}")
        seen.add(dep["name"])
        if not v.EXACT_VERSION.match(str(dep.get("version", ""))):
            bad(f"{dep['name']}: version must be exact, got {dep.get('version')!r}")
    if "esbuild" not in seen:
        bad("the npm inputs must include esbuild (the bundler)")
    if not any(d.get("bundled") for d in entry["npm"]):
        bad('no npm input is marked "bundled": true')
    for arg in entry["esbuild_args"]:
        if re.match(r"^--(?:outfile|outdir|metafile|global-name|banner)\b", arg):
            bad(f"{arg!r} is set by the builder; remove it from esbuild_args")


def license_dest(entry: dict, dep_name: str, v) -> str:
    suffix = "" if dep_name == entry["name"] else "." + v.dest_dir_name(dep_name)
    return f"{v.dest_dir_name(entry['name'])}/LICENSE{suffix}"


def run(cmd: list[str], cwd: Path, env: dict, v, what: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise v.VendorError(f"{what}: `{shlex.join(cmd)}` failed ({proc.returncode}):\n"
                            f"{(proc.stderr or proc.stdout).strip()}")
    if proc.stderr.strip():
        print("  " + proc.stderr.strip().replace("\n", "\n  "))
    return proc.stdout


def build_entry(entry: dict, workdir: Path, pin: bool, v) -> tuple[dict[str, bytes], dict]:
    """Build one "built" entry; returns (outputs, manifest item) like vendor.build_package."""
    name, output, glob_name = entry["name"], entry["output"], entry["global"]
    pkg_dir = v.dest_dir_name(name)
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        raise v.VendorError(f"{name}: node and npm are needed to build bundles (never at run time)")
    env = {k: val for k, val in os.environ.items()
           if k not in ("ESBUILD_BINARY_PATH", "NODE_OPTIONS", "NODE_PATH")}
    env.update(npm_config_update_notifier="false", npm_config_fund="false",
               npm_config_audit="false", npm_config_loglevel="error")
    pins = {d["name"]: d for d in entry["npm"]}

    # 1. fetch and verify every input.
    inputs, tarballs, licences = {}, [], {}
    for dep in entry["npm"]:
        print(f"- {name}: npm pack {dep['name']}@{dep['version']}")
        tgz, info = v.npm_pack(dep["name"], dep["version"], workdir)
        integrity = v.verify_integrity(dep, tgz, info, pin)
        files = v.read_tarball(tgz)
        pkg_json = json.loads(files["package.json"])
        if (pkg_json.get("name"), pkg_json.get("version")) != (dep["name"], dep["version"]):
            raise v.VendorError(f"{name}: {info['filename']} contains {pkg_json.get('name')}@{pkg_json.get('version')}")
        inputs[dep["name"]] = {
            "version": dep["version"],
            "license": v.spdx_license(pkg_json),
            "tarball": info["filename"],
            "integrity": integrity,
            "bundled": bool(dep.get("bundled")),
        }
        if dep.get("bundled"):
            found = sorted(p for p in files if "/" not in p and v.LICENSE_NAMES.match(p))
            if not found:
                raise v.VendorError(f"{name}: {dep['name']} is bundled but its tarball has no LICENSE file")
            licences[dep["name"]] = (files[found[0]], f"{dep['name']} tarball:{found[0]}")
        tarballs.append("./" + info["filename"])

    # 2. install exactly those tarballs (plus esbuild's platform binary).
    (workdir / "package.json").write_text('{"private": true}\n', encoding="utf-8")
    install = ["npm", "install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund", *tarballs]
    print(f"- {name}: npm install ({len(tarballs)} verified tarballs)")
    run(install, workdir, env, v, name)
    lock = json.loads((workdir / "node_modules" / ".package-lock.json").read_text(encoding="utf-8"))
    installed = set()
    for key, meta in lock.get("packages", {}).items():
        dep_name = key.rsplit("node_modules/", 1)[-1]
        if dep_name in pins and key == f"node_modules/{dep_name}" and meta.get("version") == pins[dep_name]["version"]:
            installed.add(dep_name)
        elif not (PLATFORM_BINARY.match(dep_name) and meta.get("version") == pins["esbuild"]["version"]):
            raise v.VendorError(f"{name}: npm installed {key}@{meta.get('version')}, which vendor.json does not pin "
                                f"(add it to the npm inputs, or fix the pinned versions so npm dedupes)")
    if installed != set(pins):
        raise v.VendorError(f"{name}: npm did not install {', '.join(sorted(set(pins) - installed))}")

    # 3. bundle.
    esbuild = [node, "node_modules/esbuild/bin/esbuild"]
    got = run(esbuild + ["--version"], workdir, env, v, name).strip()
    if got != pins["esbuild"]["version"]:
        raise v.VendorError(f"{name}: esbuild reports version {got}, pinned {pins['esbuild']['version']}")
    entry_bytes = (v.ROOT / entry["entry"]).read_bytes()
    entry_file = Path(entry["entry"]).name
    (workdir / entry_file).write_bytes(entry_bytes)
    bundled = sorted(d for d in inputs if inputs[d]["bundled"])
    banner = (f"/*! {name} bundle for the browser (global {glob_name}): "
              + ", ".join(f"{d} {inputs[d]['version']} ({inputs[d]['license']})" for d in bundled)
              + ". Licences: LICENSE* in this folder. Built by scripts/vendor.py"
              + f" with esbuild {got} from {entry['entry']}. */")
    bundle_args = [entry_file, *entry["esbuild_args"], f"--global-name={glob_name}",
                   f"--banner:js={banner}", f"--outfile={output}", "--metafile=meta.json",
                   "--log-level=warning"]
    print(f"- {name}: esbuild {got} -> {pkg_dir}/{output}")
    run(esbuild + bundle_args, workdir, env, v, name)
    data = (workdir / output).read_bytes()

    meta = json.loads((workdir / "meta.json").read_text(encoding="utf-8"))
    used: dict[str, int] = {}
    for path, info in meta["outputs"][output]["inputs"].items():
        if "node_modules/" in path:
            parts = path.rsplit("node_modules/", 1)[1].split("/")
            dep_name = "/".join(parts[:2] if parts[0].startswith("@") else parts[:1])
        elif path == entry_file:
            dep_name = entry["entry"]
        else:
            raise v.VendorError(f"{name}: esbuild bundled {path}, which is neither the entry nor an npm input")
        used[dep_name] = used.get(dep_name, 0) + info["bytesInOutput"]
    in_output = {d for d, n in used.items() if n and d != entry["entry"]}
    if in_output != set(bundled):
        raise v.VendorError(f"{name}: packages in the output {sorted(in_output)} differ from those "
                            f'marked "bundled" in vendor.json {bundled} (licences would be wrong)')
    for d in inputs:
        if inputs[d]["bundled"]:
            inputs[d]["bytes_in_output"] = used[d]
            inputs[d]["license_file"] = license_dest(entry, d, v)

    # 4. smoke test in a fresh JavaScript context.
    result = json.loads(run([node, "-e", SMOKE_TEST, str(workdir / output), glob_name,
                             json.dumps(entry.get("require_exports", []))], workdir, env, v, name))
    if result["missing"] or not result["ok"]:
        raise v.VendorError(f"{name}: smoke test failed: {result}")
    print(f"  smoke test: global {glob_name} with {result['exports']} exports; update round-trip OK")

    outputs = {f"{pkg_dir}/{output}": data}
    files_manifest = {f"{pkg_dir}/{output}": {
        "source": f"esbuild bundle of {entry['entry']}", "size": len(data), "sha256": v.sha256_hex(data)}}
    for d in bundled:
        lic, source = licences[d]
        outputs[license_dest(entry, d, v)] = lic
        files_manifest[license_dest(entry, d, v)] = {"source": source, "size": len(lic), "sha256": v.sha256_hex(lic)}
    item = {
        "name": name,
        "source": "built",
        "license": " AND ".join(sorted({inputs[d]["license"] for d in bundled})),
        "global": glob_name,
        "entry": entry["entry"],
        "entry_sha256": v.sha256_hex(entry_bytes),
        "esbuild_args": entry["esbuild_args"],
        "commands": [
            "npm pack " + " ".join(f"{d['name']}@{d['version']}" for d in entry["npm"])
            + "  # sha512 of each tarball checked against vendor.json",
            shlex.join(install),
            f"cp {entry['entry']} . && " + shlex.join(["node", *esbuild[1:], *bundle_args]),
        ],
        "inputs": inputs,
        "files": dict(sorted(files_manifest.items())),
    }
    return outputs, item


def check_offline(entry: dict, item: dict, v) -> list[str]:
    """Pins in vendor.json vs what MANIFEST.json says the files were built from."""
    name, problems = entry["name"], []
    inputs = item.get("inputs", {})
    if set(inputs) != {d["name"] for d in entry["npm"]}:
        problems.append(f"{name}: npm inputs in vendor.json differ from MANIFEST.json")
    for dep in entry["npm"]:
        got = inputs.get(dep["name"], {})
        for key in ("version", "integrity"):
            if got.get(key) != dep.get(key):
                problems.append(f"{name}: {dep['name']} {key} {got.get(key)!r} in manifest, {dep.get(key)!r} pinned")
    for key in ("entry", "global", "esbuild_args"):
        if item.get(key) != entry.get(key):
            problems.append(f"{name}: {key} differs between vendor.json and MANIFEST.json")
    entry_path = v.ROOT / entry["entry"]
    if entry_path.is_file() and v.sha256_hex(entry_path.read_bytes()) != item.get("entry_sha256"):
        problems.append(f"{name}: {entry['entry']} changed since the bundle was built; run vendor.py --only {name}")
    if f"{v.dest_dir_name(name)}/{entry['output']}" not in item.get("files", {}):
        problems.append(f"{name}: {entry['output']} not recorded in MANIFEST.json")
    return problems
