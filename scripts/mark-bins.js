#!/usr/bin/env node
// After tsc: make every file package.json names under "bin" executable. tsc writes its output 0644, and
// npx (or npm link) sets the bit only when it first links the package; a link cached from an earlier
// build of the same path then points at a file that cannot run ("sh: mosaic: Permission denied").
'use strict';
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const bins = typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin || {});
for (const bin of bins) {
  const file = path.join(root, bin);
  if (!fs.existsSync(file)) {
    console.error(`mark-bins: package.json's bin ${bin} was not built`);
    process.exit(1);
  }
  fs.chmodSync(file, fs.statSync(file).mode | 0o111);
}
