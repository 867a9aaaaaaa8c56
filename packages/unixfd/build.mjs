#!/usr/bin/env node
// Builds the native addon (build/Release/unixfd.node) with node-gyp, but only when it
// is missing or older than its sources. Run by the root package's postinstall and
// build:native scripts (npm gates install scripts of packages, not the root's own).
// `node packages/unixfd/build.mjs --force` rebuilds unconditionally.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(dir, 'build', 'Release', 'unixfd.node');
const sources = ['native/unixfd.c', 'binding.gyp'].map((f) => path.join(dir, f));

function mtime(file) {
  return statSync(file).mtimeMs;
}

const force = process.argv.includes('--force');
if (!force && existsSync(out) && sources.every((src) => mtime(src) <= mtime(out))) {
  console.log(`@qmpmux/unixfd: ${path.relative(process.cwd(), out) || out} is up to date`);
  process.exit(0);
}

// node-gyp: the one npm runs scripts with, a local install, or the one bundled with npm.
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  try {
    candidates.push(createRequire(path.join(dir, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => existsSync(c));
}

// Node's headers: npm's nodedir setting, else the running node's own install prefix
// (never download them: this machine may have no route to nodejs.org).
function findNodeDir() {
  const configured = process.env.npm_config_nodedir;
  if (configured && existsSync(path.join(configured, 'include', 'node', 'node_api.h'))) return configured;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  return undefined;
}

const gyp = findNodeGyp();
const nodedir = findNodeDir();
const args = ['rebuild'];
if (nodedir) args.push(`--nodedir=${nodedir}`);
const cmd = gyp ? process.execPath : 'node-gyp';
const cmdArgs = gyp ? [gyp, ...args] : args;
console.log(`@qmpmux/unixfd: building native addon (${[cmd, ...cmdArgs].join(' ')})`);
const res = spawnSync(cmd, cmdArgs, { cwd: dir, stdio: 'inherit' });
if (res.error) {
  console.error(`@qmpmux/unixfd: could not run node-gyp: ${res.error.message}`);
  process.exit(1);
}
if (res.status !== 0 || !existsSync(out)) {
  console.error(`@qmpmux/unixfd: node-gyp failed (exit ${res.status ?? res.signal}); needs python3, make and a C compiler`);
  process.exit(res.status || 1);
}
console.log(`@qmpmux/unixfd: built ${out}`);
