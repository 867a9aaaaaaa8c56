#!/usr/bin/env bash
# QEMU 7.2's QAPI schema for a checkout without ../shared: from Debian's own `qemu` source package
# (what a Debian user's QEMU is built from), through apt with a private source list and state dir
# (the system's apt configuration is not touched), extracting only qapi/*.json; plus the introspection
# of the installed qemu-system-x86_64. Usage: fetch-qapi.sh DEST   (DEST gets qemu-7.2/ and
# qemu-7.2-query-qmp-schema.json; ../shared's misc.json, a later QEMU's, has no Debian 7.2 twin). Nothing is committed: DEST is under node_modules/.cache.
set -euo pipefail
dest=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/src"
cat >"$work/sources.list" <<SRC
deb-src [signed-by=$keyring] http://deb.debian.org/debian $suite main
deb-src [signed-by=$keyring] http://deb.debian.org/debian-security $suite-security main
SRC
apt_opts=(-qq -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives" -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$work/src" && apt-get "${apt_opts[@]}" source --download-only qemu >/dev/null)
orig=$(ls "$work"/src/qemu_*.orig.tar.xz)
case "$orig" in *qemu_7.2*) ;; *) echo "fetch-qapi: Debian's qemu source is $orig, not 7.2" >&2; exit 1 ;; esac
tar -xJf "$orig" -C "$work" --wildcards '*/qapi/*.json'
mkdir -p "$dest.tmp/qemu-7.2"
cp "$work"/qemu-*/qapi/*.json "$dest.tmp/qemu-7.2/"
# The installed binary's introspection (the recorded file of ../shared, taken live).
printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-qmp-schema"}' '{"execute":"quit"}' |
  qemu-system-x86_64 -M none -display none -nodefaults -qmp stdio >"$work/qmp.out"
node -e '
  const fs = require("fs");
  const msgs = fs.readFileSync(process.argv[1], "latin1").split("\n").flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });
  const r = msgs.find((m) => Array.isArray(m.return));
  if (!r) { console.error("fetch-qapi: no query-qmp-schema reply from qemu-system-x86_64"); process.exit(1); }
  fs.writeFileSync(process.argv[2], JSON.stringify(r.return, null, 1) + "\n");
' "$work/qmp.out" "$dest.tmp/qemu-7.2-query-qmp-schema.json"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
