#!/usr/bin/env node
// Builds the native addon (native/) with node-gyp against the headers of the Node that runs this
// script, so `npm ci` needs no network and no npm config: node-gyp otherwise downloads the headers
// (or relies on a `nodedir` someone set in an npmrc). Node's release tarballs, nvm, nodesource and
// Debian's nodejs all install them as <prefix>/include/node next to <prefix>/bin/node.
// An explicit npm_config_nodedir still wins; without local headers node-gyp does what it always did.
// A build that is current (same Node, same header source, addon newer than every source file) is kept:
// `npx mosaic` runs this script again when it first links a clone, and a rebuild there cost ~20 s of
// a newcomer's first command. MOSAIC_REBUILD_NATIVE=1 forces the rebuild.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const prefix = path.resolve(process.execPath, '..', '..');
const haveHeaders = fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'));
const args = ['rebuild', '--directory', path.join(__dirname, '..', 'native')];
if (!process.env.npm_config_nodedir && haveHeaders) args.push(`--nodedir=${prefix}`);

/** node-gyp: the one npm runs scripts with, a local install, the one bundled with npm, or the PATH's. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    (() => {
      try {
        return require.resolve('node-gyp/bin/node-gyp.js');
      } catch {
        return undefined;
      }
    })(),
    path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c && fs.existsSync(c));
}

const NATIVE = path.join(__dirname, '..', 'native');
const ADDON = path.join(NATIVE, 'build', 'Release', 'mosaic_native.node');
const STAMP = path.join(NATIVE, 'build', 'mosaic-build.json');
/** What the addon was built for; a change of any of it means a rebuild. */
const stamp = JSON.stringify({ nodeAbi: process.versions.modules, napi: process.versions.napi, args });

/** Newest modification time (ms) of the addon's sources: binding.gyp and everything under native/src. */
function newestSourceMs() {
  let newest = fs.statSync(path.join(NATIVE, 'binding.gyp')).mtimeMs;
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  walk(path.join(NATIVE, 'src'));
  return newest;
}

function upToDate() {
  if (process.env.MOSAIC_REBUILD_NATIVE === '1' || !fs.existsSync(ADDON) || !fs.existsSync(STAMP)) return false;
  return fs.readFileSync(STAMP, 'utf8') === stamp && fs.statSync(ADDON).mtimeMs >= newestSourceMs();
}

const gyp = findNodeGyp();
const where = !process.env.npm_config_nodedir && haveHeaders ? `headers of ${process.execPath} in ${prefix}/include/node` : process.env.npm_config_nodedir ? `npm_config_nodedir=${process.env.npm_config_nodedir}` : 'node-gyp default (may download headers)';
const current = upToDate();
if (process.argv.includes('--dry-run')) {
  // For the test: the command that would run, and whether the build is current, as JSON.
  process.stdout.write(JSON.stringify({ nodeGyp: gyp ?? 'node-gyp', args, upToDate: current, stamp }) + '\n');
  process.exit(0);
}
if (current) {
  process.stderr.write(`mosaic: native/ is up to date (${path.relative(process.cwd(), ADDON) || ADDON}, Node ABI ${process.versions.modules}); not rebuilt (MOSAIC_REBUILD_NATIVE=1 forces it)\n`);
  process.exit(0);
}
process.stderr.write(`mosaic: building native/ with node-gyp (${where})\n`);
fs.rmSync(STAMP, { force: true });
const r = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit', shell: process.platform === 'win32' });
if (r.error) {
  process.stderr.write(`mosaic: cannot run node-gyp: ${r.error.message}\n`);
  process.exit(1);
}
// The stamp is written only after a build that succeeded, so a failed or interrupted one is redone.
if (r.status === 0) fs.writeFileSync(STAMP, stamp);
process.exit(r.status ?? 1);
