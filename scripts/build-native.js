#!/usr/bin/env node
// Builds the native addon (native/) with node-gyp against the headers of the Node that runs this
// script, so `npm ci` needs no network and no npm config: node-gyp otherwise downloads the headers
// (or relies on a `nodedir` someone set in an npmrc). Node's release tarballs, nvm, nodesource and
// Debian's nodejs all install them as <prefix>/include/node next to <prefix>/bin/node.
// An explicit npm_config_nodedir still wins; without local headers node-gyp does what it always did.
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

const gyp = findNodeGyp();
const where = !process.env.npm_config_nodedir && haveHeaders ? `headers of ${process.execPath} in ${prefix}/include/node` : process.env.npm_config_nodedir ? `npm_config_nodedir=${process.env.npm_config_nodedir}` : 'node-gyp default (may download headers)';
process.stderr.write(`mosaic: building native/ with node-gyp (${where})\n`);
if (process.argv.includes('--dry-run')) {
  // For the test: the command that would run, as JSON.
  process.stdout.write(JSON.stringify({ nodeGyp: gyp ?? 'node-gyp', args }) + '\n');
  process.exit(0);
}
const r = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit', shell: process.platform === 'win32' });
if (r.error) {
  process.stderr.write(`mosaic: cannot run node-gyp: ${r.error.message}\n`);
  process.exit(1);
}
process.exit(r.status ?? 1);
