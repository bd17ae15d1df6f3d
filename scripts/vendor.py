#!/usr/bin/env python3
"""Refresh or verify the vendored browser libraries under static/vendor/.

The pinned list lives in scripts/vendor.json.  For each package the script

  1. fetches ``NAME@VERSION`` from the npm registry with ``npm pack --json``
     into a temporary directory (the only thing that needs Node/npm; running
     the app never does),
  2. checks the tarball's sha512 -- computed here, not just taken from npm --
     against the ``integrity`` pinned in vendor.json,
  3. copies the selected files plus the package's licence into
     static/vendor/NAME/, applying the configured post-processing rules
     (e.g. dropping nhsuk-frontend's @font-face rules that load Frutiger from
     assets.nhs.uk),
  4. refuses to write any CSS that still refers to a remote URL or to a local
     file that is not vendored alongside it, and
  5. writes static/vendor/MANIFEST.json (name, version, SPDX licence, tarball
     integrity, per-file sha256 and the post-processing applied).

Entries under "built" (bundles made locally with a pinned esbuild, e.g. Yjs)
are handled by scripts/vendor_build.py.

Entries under "test_packages" are tools for the test suite only (axe-core, the
Nu HTML checker): with ``--tests`` they are vendored the same way into
tests/vendor/ (its own MANIFEST.json), which the app never serves. An entry
marked ``"committed": false`` (vnu.jar, 30 MB) is fetched into place but kept
out of git (tests/vendor/.gitignore); its sha256 is still recorded. Without the
npm CLI (as in CI) a tarball is downloaded straight from registry.npmjs.org;
its sha512 is checked against the pin all the same.

The output is deterministic (no timestamps), so running it twice changes
nothing.

Usage:
  python scripts/vendor.py                 refresh everything
  python scripts/vendor.py --only NAME     refresh one entry (repeatable)
  python scripts/vendor.py --only NAME --pin
                                           as above, and record the tarball
                                           integrity in vendor.json if the
                                           entry has none yet (new version)
  python scripts/vendor.py --check         re-download, rebuild in memory and
                                           compare with static/vendor/ and
                                           MANIFEST.json; changes nothing
  python scripts/vendor.py --check --offline
                                           verify the files on disk against
                                           MANIFEST.json only (no network)
  python scripts/vendor.py --tests [...]   the same for the test-only tools
                                           in tests/vendor/

Standard library only, plus the ``npm`` CLI for fetching (where it is missing,
tarballs come straight from the registry) and ``node`` for building the
"built" entries.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import gzip
import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vendor_build  # noqa: E402  (scripts/vendor_build.py; imports nothing from here)

ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = ROOT / "scripts" / "vendor.json"
VENDOR_DIR = ROOT / "static" / "vendor"
MANIFEST_PATH = VENDOR_DIR / "MANIFEST.json"
# Files at the top of static/vendor/ that are not part of any package.
TOP_LEVEL_FILES = {"MANIFEST.json", "README.md"}
# Test-only tools (--tests): never under static/, so never served to anyone's page.
TEST_VENDOR_DIR = ROOT / "tests" / "vendor"
REGISTRY = "https://registry.npmjs.org"

NPM_NAME = re.compile(r"^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")
LICENSE_NAMES = re.compile(r"^(?:LICEN[CS]E|COPYING)(?:[.-].*)?$", re.IGNORECASE)

MIT_TEMPLATE = """MIT License

{copyright}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


class VendorError(Exception):
    """A problem that must stop the refresh/check."""


# --------------------------------------------------------------------------
# small helpers


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def dump_json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True


def files_on_disk(directory: Path) -> set[str]:
    """Paths (POSIX, relative to VENDOR_DIR) of all files under directory."""
    if not directory.exists():
        return set()
    return {
        p.relative_to(VENDOR_DIR).as_posix()
        for p in directory.rglob("*")
        if p.is_file() or p.is_symlink()
    }


# --------------------------------------------------------------------------
# configuration


def load_config() -> dict:
    try:
        config = json.loads(CONFIG_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VendorError(f"cannot read {CONFIG_PATH}: {exc}") from exc
    names = set()
    for entry in config.get("packages", []) + config.get("built", []) + config.get("test_packages", []):
        name = entry.get("name")
        if not name or name in names:
            raise VendorError(f"vendor.json: missing or duplicate name {name!r}")
        if not NPM_NAME.match(name):
            raise VendorError(f"vendor.json: unsupported name {name!r}")
        names.add(name)
    for entry in config.get("packages", []) + config.get("test_packages", []):
        if not EXACT_VERSION.match(str(entry.get("version", ""))):
            raise VendorError(
                f"vendor.json: {entry['name']}: version must be exact, got {entry.get('version')!r}"
            )
        if not entry.get("files"):
            raise VendorError(f"vendor.json: {entry['name']}: no files listed")
        for rule in entry.get("postprocess", []):
            if rule.get("rule") not in POSTPROCESSORS:
                raise VendorError(f"vendor.json: {entry['name']}: unknown rule {rule.get('rule')!r}")
    for entry in config.get("built", []):
        vendor_build.validate(entry, sys.modules[__name__])
    return config


def use_test_packages(config: dict) -> dict:
    """Switch this run to the test-only tools: their entries, into tests/vendor/."""
    global VENDOR_DIR, MANIFEST_PATH, TOP_LEVEL_FILES
    VENDOR_DIR, MANIFEST_PATH = TEST_VENDOR_DIR, TEST_VENDOR_DIR / "MANIFEST.json"
    TOP_LEVEL_FILES = {"MANIFEST.json", "README.md", ".gitignore"}
    # "_full" is what --pin writes back: the whole vendor.json, not this view of it.
    return {"packages": config.get("test_packages", []), "built": [], "_full": config}


def committed(entry: dict) -> bool:
    """Whether the entry's files are kept in git (a 30 MB jar is fetched, not committed)."""
    return entry.get("committed", True)


def dest_dir_name(name: str) -> str:
    # Scoped packages (@scope/pkg) are vendored as "@scope/pkg" -> "scope__pkg".
    return name.lstrip("@").replace("/", "__")


# --------------------------------------------------------------------------
# fetching


def npm_pack(name: str, version: str, workdir: Path) -> tuple[bytes, dict]:
    """Download NAME@VERSION from the registry; return (tarball bytes, npm's JSON)."""
    if shutil.which("npm") is None:
        return registry_download(name, version, workdir)
    env = dict(os.environ)
    env.update(
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
        npm_config_loglevel="error",
    )
    cmd = ["npm", "pack", f"{name}@{version}", "--json", "--ignore-scripts"]
    proc = subprocess.run(
        cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0:
        raise VendorError(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stderr.strip()}")
    try:
        info = json.loads(proc.stdout)
    except ValueError as exc:
        raise VendorError(f"unexpected output from npm pack: {proc.stdout[:500]!r}") from exc
    if isinstance(info, list):
        if len(info) != 1:
            raise VendorError(f"npm pack returned {len(info)} entries for {name}@{version}")
        info = info[0]
    if info.get("name") != name or info.get("version") != version:
        raise VendorError(
            f"npm pack returned {info.get('name')}@{info.get('version')}, expected {name}@{version}"
        )
    tgz = workdir / info["filename"]
    return tgz.read_bytes(), info


def registry_download(name: str, version: str, workdir: Path) -> tuple[bytes, dict]:
    """NAME@VERSION's tarball straight from the npm registry, for machines without npm (CI).

    Nothing vouches for it here: the caller checks its sha512 against the pin.
    """
    from urllib.request import urlopen

    filename = f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    url = f"{REGISTRY}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"
    try:
        with urlopen(url, timeout=300) as answer:
            tgz = answer.read()
    except OSError as exc:
        raise VendorError(f"cannot download {url}: {exc}") from exc
    (workdir / filename).write_bytes(tgz)
    return tgz, {"name": name, "version": version, "filename": filename, "integrity": sri_sha512(tgz)}


def verify_integrity(entry: dict, tgz: bytes, info: dict, pin: bool) -> str:
    computed = sri_sha512(tgz)
    reported = info.get("integrity")
    if reported != computed:
        raise VendorError(
            f"{entry['name']}: tarball sha512 {computed} does not match npm's reported {reported}"
        )
    pinned = entry.get("integrity")
    if pinned is None:
        if not pin:
            raise VendorError(
                f"{entry['name']}@{entry['version']}: no integrity pinned in vendor.json; "
                f"the registry serves {computed}. Re-run with --pin to record it."
            )
        # Insert right after "version" so vendor.json keeps its layout.
        items = list(entry.items())
        entry.clear()
        for key, value in items:
            entry[key] = value
            if key == "version":
                entry["integrity"] = computed
        print(f"  pinned {entry['name']}@{entry['version']} integrity {computed}")
    elif pinned != computed:
        raise VendorError(
            f"{entry['name']}@{entry['version']}: INTEGRITY MISMATCH\n"
            f"  pinned in vendor.json: {pinned}\n  downloaded tarball:    {computed}"
        )
    return computed


def read_tarball(tgz: bytes) -> dict[str, bytes]:
    """Regular files of an npm tarball, keyed by path without the top folder."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            parts = member.name.split("/", 1)
            if len(parts) != 2:
                continue
            rel = posixpath.normpath(parts[1])
            if rel.startswith("../") or rel.startswith("/") or rel == "..":
                raise VendorError(f"suspicious path in tarball: {member.name!r}")
            fh = tar.extractfile(member)
            assert fh is not None
            out[rel] = fh.read()
    return out


def spdx_license(pkg_json: dict) -> str:
    lic = pkg_json.get("license")
    if isinstance(lic, dict):
        lic = lic.get("type")
    if not lic and isinstance(pkg_json.get("licenses"), list):
        lic = " OR ".join(str(x.get("type")) for x in pkg_json["licenses"] if isinstance(x, dict))
    if not lic:
        raise VendorError(f"{pkg_json.get('name')}: package.json declares no licence")
    return str(lic)


# --------------------------------------------------------------------------
# post-processing rules: (text, rule) -> (new text, number of changes)

URL_RE = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)
IMPORT_RE = re.compile(r"""@import\s+(?:url\(\s*)?(['"]?)([^'")\s;]+)\1""", re.IGNORECASE)
FONT_FACE_RE = re.compile(r"@font-face\s*\{[^{}]*\}", re.IGNORECASE)
REMOTE_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
SOURCEMAP_RE = re.compile(
    r"(?:/\*[#@]\s*sourceMappingURL=[^*]*\*/|//[#@]\s*sourceMappingURL=[^\s'\"]*)\s*\Z"
)


def is_remote(url: str) -> bool:
    url = url.strip()
    return bool(REMOTE_RE.match(url)) and not url.lower().startswith("data:")


def rule_remove_remote_font_face(text: str, rule: dict) -> tuple[str, int]:
    """Drop @font-face rules whose src loads a remote URL (nhsuk: Frutiger on assets.nhs.uk)."""
    removed = 0

    def repl(m: re.Match) -> str:
        nonlocal removed
        if any(is_remote(u.group(2)) for u in URL_RE.finditer(m.group(0))):
            removed += 1
            return ""
        return m.group(0)

    return FONT_FACE_RE.sub(repl, text), removed


def rule_rewrite_url_prefix(text: str, rule: dict) -> tuple[str, int]:
    """Rewrite url(FROM...) to url(TO...), e.g. root-absolute /assets/ to a path relative to the CSS."""
    pattern = re.compile(r"(url\(\s*['\"]?)" + re.escape(rule["from"]), re.IGNORECASE)
    return pattern.subn(lambda m: m.group(1) + rule["to"], text)


def rule_strip_sourcemap_comment(text: str, rule: dict) -> tuple[str, int]:
    """Remove the trailing sourceMappingURL comment (the .map files are not vendored)."""
    new, n = SOURCEMAP_RE.subn("", text)
    if n:
        new = new.rstrip("\n") + "\n"
    return new, n


POSTPROCESSORS = {
    "remove-remote-font-face": rule_remove_remote_font_face,
    "rewrite-url-prefix": rule_rewrite_url_prefix,
    "strip-sourcemap-comment": rule_strip_sourcemap_comment,
}


def describe_rule(rule: dict, count: int) -> str:
    extra = ""
    if rule["rule"] == "rewrite-url-prefix":
        extra = f" {rule['from']!r} -> {rule['to']!r}"
    return f"{rule['rule']}{extra}: {count} change(s)"


def check_css_references(pkg_dir: str, rel: str, text: str, outputs: dict[str, bytes]) -> None:
    """Fail unless every url()/@import in the CSS is data:, a fragment, or a vendored file."""
    problems = []
    refs = [m.group(2) for m in URL_RE.finditer(text)] + [m.group(2) for m in IMPORT_RE.finditer(text)]
    for url in refs:
        url = url.strip()
        if not url or url.startswith("#") or url.lower().startswith("data:"):
            continue
        if is_remote(url):
            problems.append(f"remote URL: {url}")
            continue
        if url.startswith("/"):
            problems.append(f"root-absolute URL (would not resolve under /static/vendor): {url}")
            continue
        path = re.split(r"[?#]", url, 1)[0]
        target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), path))
        if target.startswith("../") or target == "..":
            problems.append(f"URL escapes the package directory: {url}")
        elif target not in outputs:
            problems.append(f"URL points at a file that is not vendored: {url} ({pkg_dir}/{target})")
    if problems:
        raise VendorError(
            f"{pkg_dir}/{rel} still refers to things the app cannot serve:\n  "
            + "\n  ".join(sorted(set(problems)))
        )


# --------------------------------------------------------------------------
# building one package in memory


def expand_files(entry: dict, tar_files: dict[str, bytes]) -> dict[str, str]:
    """Map destination path (relative to the package dir) -> tarball path."""
    mapping: dict[str, str] = {}
    for src, dest in entry["files"].items():
        if any(ch in src for ch in "*?["):
            if not dest.endswith("/"):
                raise VendorError(f"{entry['name']}: glob {src!r} needs a destination ending in '/'")
            base = src.rsplit("/", 1)[0] + "/" if "/" in src else ""
            matches = sorted(p for p in tar_files if fnmatch.fnmatchcase(p, src))
            if not matches:
                raise VendorError(f"{entry['name']}: {src!r} matches nothing in the tarball")
            for p in matches:
                mapping[posixpath.normpath(dest + p[len(base):])] = p
        else:
            if src not in tar_files:
                raise VendorError(f"{entry['name']}@{entry['version']}: tarball has no {src!r}")
            if dest.endswith("/"):
                dest += posixpath.basename(src)
            mapping[posixpath.normpath(dest)] = src
    for dest in mapping:
        if dest.startswith("../") or dest.startswith("/") or dest == "LICENSE":
            raise VendorError(f"{entry['name']}: bad destination {dest!r}")
    return mapping


def license_file(entry: dict, spdx: str, tar_files: dict[str, bytes]) -> tuple[bytes, str]:
    candidates = sorted(p for p in tar_files if "/" not in p and LICENSE_NAMES.match(p))
    if candidates:
        return tar_files[candidates[0]], f"tarball:{candidates[0]}"
    fallback = entry.get("license_fallback")
    if not fallback:
        raise VendorError(
            f"{entry['name']}: the tarball ships no LICENSE file; add a license_fallback to vendor.json"
        )
    if fallback.get("spdx") != spdx:
        raise VendorError(
            f"{entry['name']}: license_fallback is for {fallback.get('spdx')!r} but package.json says {spdx!r}"
        )
    if spdx != "MIT":
        raise VendorError(f"{entry['name']}: no licence template for {spdx!r}")
    text = MIT_TEMPLATE.format(copyright=fallback["copyright"])
    text += (
        f"\n---\nThe {entry['name']} npm tarball does not include a LICENSE file. Its package.json\n"
        f"declares {spdx!r}; the text above reproduces the upstream licence at\n{fallback['source']}\n"
    )
    return text.encode("utf-8"), f"vendor.json license_fallback ({fallback['source']})"


def build_package(entry: dict, workdir: Path, pin: bool) -> tuple[dict[str, bytes], dict]:
    """Fetch and assemble one npm package. Returns (outputs, manifest entry).

    outputs maps paths relative to static/vendor/ to file contents.
    """
    name, version = entry["name"], entry["version"]
    pkg_dir = dest_dir_name(name)
    print(f"- {name}@{version}: npm pack")
    tgz, info = npm_pack(name, version, workdir)
    integrity = verify_integrity(entry, tgz, info, pin)
    tar_files = read_tarball(tgz)

    pkg_json = json.loads(tar_files["package.json"])
    if pkg_json.get("name") != name or pkg_json.get("version") != version:
        raise VendorError(f"{name}: package.json inside the tarball says {pkg_json.get('name')}@{pkg_json.get('version')}")
    spdx = spdx_license(pkg_json)

    mapping = expand_files(entry, tar_files)
    contents = {dest: tar_files[src] for dest, src in mapping.items()}
    applied: dict[str, list[str]] = {dest: [] for dest in mapping}

    for rule in entry.get("postprocess", []):
        fn = POSTPROCESSORS[rule["rule"]]
        for dest in sorted(mapping):
            if not fnmatch.fnmatchcase(dest, rule["glob"]):
                continue
            text = contents[dest].decode("utf-8")
            new, count = fn(text, rule)
            contents[dest] = new.encode("utf-8")
            applied[dest].append(describe_rule(rule, count))

    for dest in sorted(mapping):
        if dest.endswith(".css"):
            check_css_references(pkg_dir, dest, contents[dest].decode("utf-8"), contents)

    lic_bytes, lic_source = license_file(entry, spdx, tar_files)

    outputs = {f"{pkg_dir}/{dest}": data for dest, data in contents.items()}
    outputs[f"{pkg_dir}/LICENSE"] = lic_bytes

    files_manifest = {}
    for dest in sorted(mapping):
        data = contents[dest]
        src_data = tar_files[mapping[dest]]
        item = {
            "source": mapping[dest],
            "size": len(data),
            "sha256": sha256_hex(data),
        }
        if data != src_data:
            item["source_sha256"] = sha256_hex(src_data)
        if applied[dest]:
            item["postprocess"] = applied[dest]
        files_manifest[f"{pkg_dir}/{dest}"] = item
    files_manifest[f"{pkg_dir}/LICENSE"] = {
        "source": lic_source,
        "size": len(lic_bytes),
        "sha256": sha256_hex(lic_bytes),
    }

    manifest_entry = {
        "name": name,
        "version": version,
        "license": spdx,
        "license_file": f"{pkg_dir}/LICENSE",
        "source": "npm",
        "tarball": info["filename"],
        "integrity": integrity,
        "files": files_manifest,
    }
    if not committed(entry):
        manifest_entry["committed"] = False
    return outputs, manifest_entry


def build_entry(entry: dict, workdir: Path, pin: bool) -> tuple[dict[str, bytes], dict]:
    """Build one entry of the "built" list; see scripts/vendor_build.py."""
    return vendor_build.build_entry(entry, workdir, pin, sys.modules[__name__])


# --------------------------------------------------------------------------
# commands


def load_manifest() -> dict:
    if MANIFEST_PATH.is_file():
        return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    return {}


def empty_manifest() -> dict:
    return {
        "_comment": "Generated by scripts/vendor.py from scripts/vendor.json; do not edit by hand.",
        "packages": {},
        "built": {},
    }


def select(config: dict, only: list[str] | None) -> tuple[list[dict], list[dict]]:
    packages, built = config.get("packages", []), config.get("built", [])
    if not only:
        return packages, built
    known = {e["name"] for e in packages + built}
    unknown = sorted(set(only) - known)
    if unknown:
        raise VendorError(f"--only: not in vendor.json: {', '.join(unknown)}")
    return [e for e in packages if e["name"] in only], [e for e in built if e["name"] in only]


def build_selected(packages, built, pin) -> tuple[dict[str, dict[str, bytes]], dict, dict]:
    outputs: dict[str, dict[str, bytes]] = {}
    man_pkgs, man_built = {}, {}
    with tempfile.TemporaryDirectory(prefix="vendor-") as tmp:
        for entry in packages:
            work = Path(tmp) / dest_dir_name(entry["name"])
            work.mkdir()
            outputs[entry["name"]], man_pkgs[entry["name"]] = build_package(entry, work, pin)
        for entry in built:
            work = Path(tmp) / dest_dir_name(entry["name"])
            work.mkdir()
            outputs[entry["name"]], man_built[entry["name"]] = build_entry(entry, work, pin)
    return outputs, man_pkgs, man_built


def cmd_refresh(config: dict, only: list[str] | None, pin: bool) -> None:
    packages, built = select(config, only)
    outputs, man_pkgs, man_built = build_selected(packages, built, pin)

    if pin:
        CONFIG_PATH.write_text(dump_json(config.get("_full", config)), encoding="utf-8")

    old = load_manifest()
    manifest = empty_manifest()
    configured = {e["name"] for e in config.get("packages", [])}
    configured_built = {e["name"] for e in config.get("built", [])}
    for section, names in (("packages", configured), ("built", configured_built)):
        for name, item in old.get(section, {}).items():
            if name in names:
                manifest[section][name] = item
    manifest["packages"].update(man_pkgs)
    manifest["built"].update(man_built)
    manifest["packages"] = {k: manifest["packages"][k] for k in sorted(manifest["packages"])}
    manifest["built"] = {k: manifest["built"][k] for k in sorted(manifest["built"])}

    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    changed = 0
    for name, files in outputs.items():
        pkg_dir = VENDOR_DIR / dest_dir_name(name)
        for rel, data in files.items():
            changed += write_if_changed(VENDOR_DIR / rel, data)
        for rel in sorted(files_on_disk(pkg_dir) - set(files)):
            print(f"  removing stale {rel}")
            (VENDOR_DIR / rel).unlink()
            changed += 1
        remove_empty_dirs(pkg_dir)

    # Entries dropped from vendor.json: remove what the old manifest recorded.
    for section in ("packages", "built"):
        for name in sorted(set(old.get(section, {})) - set(manifest[section])):
            print(f"  removing {name} (no longer in vendor.json)")
            shutil.rmtree(VENDOR_DIR / dest_dir_name(name), ignore_errors=True)
            changed += 1

    changed += write_if_changed(MANIFEST_PATH, dump_json(manifest).encode("utf-8"))
    warn_unknown(manifest)
    print(f"{VENDOR_DIR.relative_to(ROOT)}: {changed} file change(s)")
    print_sizes(manifest)


def remove_empty_dirs(directory: Path) -> None:
    if not directory.is_dir():
        return
    for p in sorted(directory.rglob("*"), key=lambda x: len(x.parts), reverse=True):
        if p.is_dir() and not any(p.iterdir()):
            p.rmdir()


def warn_unknown(manifest: dict) -> list[str]:
    owned = {dest_dir_name(n) for s in ("packages", "built") for n in manifest.get(s, {})}
    unknown = sorted(
        p.name for p in VENDOR_DIR.iterdir()
        if p.name not in owned and p.name not in TOP_LEVEL_FILES
    ) if VENDOR_DIR.is_dir() else []
    for name in unknown:
        print(f"  warning: static/vendor/{name} is not described by MANIFEST.json")
    return unknown


def manifest_files(manifest: dict) -> dict[str, dict]:
    out = {}
    for section in ("packages", "built"):
        for item in manifest.get(section, {}).values():
            out.update(item.get("files", {}))
    return out


def cmd_check(config: dict, only: list[str] | None, offline: bool) -> None:
    problems: list[str] = []
    manifest = load_manifest()
    if not manifest:
        raise VendorError(f"{MANIFEST_PATH} is missing; run python scripts/vendor.py")
    packages, built = select(config, only)

    # 1. vendor.json and MANIFEST.json agree on what is pinned.
    for entry in packages:
        item = manifest.get("packages", {}).get(entry["name"])
        if item is None:
            problems.append(f"{entry['name']}: in vendor.json but not in MANIFEST.json")
            continue
        for key in ("version", "integrity"):
            if item.get(key) != entry.get(key):
                problems.append(f"{entry['name']}: {key} {item.get(key)!r} in manifest, {entry.get(key)!r} pinned")
    for entry in built:
        item = manifest.get("built", {}).get(entry["name"])
        if item is None:
            problems.append(f"{entry['name']}: built entry not in MANIFEST.json")
        else:
            problems += vendor_build.check_offline(entry, item, sys.modules[__name__])
    if not only:
        for section in ("packages", "built"):
            configured = {e["name"] for e in config.get(section, [])}
            for name in sorted(set(manifest.get(section, {})) - configured):
                problems.append(f"{name}: in MANIFEST.json but not in vendor.json")

    # 2. files on disk match the recorded sha256; nothing missing or extra.
    selected = {e["name"] for e in packages + built}
    for section in ("packages", "built"):
        for name, item in manifest.get(section, {}).items():
            if name not in selected:
                continue
            recorded = item.get("files", {})
            on_disk = files_on_disk(VENDOR_DIR / dest_dir_name(name))
            for rel in sorted(set(recorded) - on_disk):
                if item.get("committed", True):
                    problems.append(f"missing: {VENDOR_DIR.relative_to(ROOT)}/{rel}")
                else:
                    print(f"  {rel}: not fetched here (kept out of git); --only {name} fetches it")
            for rel in sorted(on_disk - set(recorded)):
                problems.append(f"not in manifest: static/vendor/{rel}")
            for rel in sorted(set(recorded) & on_disk):
                data = (VENDOR_DIR / rel).read_bytes()
                if sha256_hex(data) != recorded[rel]["sha256"]:
                    problems.append(f"sha256 mismatch: static/vendor/{rel}")
                if rel.endswith(".css"):
                    pkg_dir, inner = rel.split("/", 1)
                    siblings = {r.split("/", 1)[1]: b"" for r in recorded if r.startswith(pkg_dir + "/")}
                    try:
                        check_css_references(pkg_dir, inner, data.decode("utf-8"), siblings)
                    except VendorError as exc:
                        problems.append(str(exc))
    if not only and warn_unknown(manifest):
        problems.append("static/vendor/ contains directories not described by MANIFEST.json")

    # 3. re-download, rebuild in memory, compare byte for byte.
    if not offline:
        outputs, man_pkgs, man_built = build_selected(packages, built, pin=False)
        for section, rebuilt in (("packages", man_pkgs), ("built", man_built)):
            for name, item in rebuilt.items():
                if manifest.get(section, {}).get(name) != item:
                    problems.append(f"{name}: MANIFEST.json differs from a fresh rebuild")
        for files in outputs.values():
            for rel, data in files.items():
                path = VENDOR_DIR / rel
                if path.is_file() and path.read_bytes() != data:
                    problems.append(f"differs from a fresh rebuild: static/vendor/{rel}")

    if problems:
        raise VendorError("check failed:\n  " + "\n  ".join(problems))
    mode = "files on disk vs MANIFEST.json" if offline else "re-downloaded, rebuilt and compared"
    print(f"{VENDOR_DIR.relative_to(ROOT)} OK ({mode})")
    print_sizes(manifest)


def print_sizes(manifest: dict) -> None:
    rows = []
    for rel in sorted(manifest_files(manifest)):
        if rel.endswith((".js", ".css")) and (VENDOR_DIR / rel).is_file():
            data = (VENDOR_DIR / rel).read_bytes()
            rows.append((rel, len(data), gzip_size(data)))
    if not rows:
        return
    width = max(len(r[0]) for r in rows)
    print(f"\n{'file'.ljust(width)}  {'raw':>9}  {'gzip -9':>9}")
    for rel, raw, gz in rows:
        print(f"{rel.ljust(width)}  {raw:>9,}  {gz:>9,}")
    print(f"{'total'.ljust(width)}  {sum(r[1] for r in rows):>9,}  {sum(r[2] for r in rows):>9,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="limit to this vendor.json entry (repeatable)")
    parser.add_argument("--check", action="store_true",
                        help="verify instead of refreshing; exits non-zero on any difference")
    parser.add_argument("--offline", action="store_true",
                        help="with --check: do not re-download, only verify files against MANIFEST.json")
    parser.add_argument("--pin", action="store_true",
                        help="record the downloaded tarball's integrity for entries that have none")
    parser.add_argument("--tests", action="store_true",
                        help="work on the test-only tools (test_packages) in tests/vendor/ instead")
    args = parser.parse_args(argv)
    if args.offline and not args.check:
        parser.error("--offline only applies to --check")
    if args.pin and args.check:
        parser.error("--pin cannot be combined with --check")
    try:
        config = load_config()
        if args.tests:
            config = use_test_packages(config)
        if args.check:
            cmd_check(config, args.only, args.offline)
        else:
            cmd_refresh(config, args.only, args.pin)
    except VendorError as exc:
        print(f"vendor.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
