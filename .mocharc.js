/**
 * Test tiers. `npm test` (CI) runs every tier; `npm run test:unit`, `test:integration` and
 * `test:slow` run one (MOSAIC_TEST_TIER). Each test file belongs to exactly one tier, listed here:
 *   unit         in-process and fast (no CLI child processes, no solver time limits): the whole tier
 *                in well under 30 s on a fast machine
 *   integration  the CLI through child processes, the native engine, planning every bundled case
 *   slow         exactness suites (brute force, ILP vs brute force), solver backends, bound validity,
 *                batch kill/resume
 * A test file in no tier (or in two) stops mocha here with its name, so none is silently skipped.
 */
'use strict';
const fs = require('fs');
const path = require('path');

const TIERS = {
  unit: [
    'engine-cuda-partition',
    'engine-program',
    'import-cycles',
    'licences',
    'import-hf',
    'package-entry',
    'params',
    'perf-model',
    'readme-commands',
    'physics',
    'polish',
    'solver-model',
    'spec-types',
  ],
  integration: [
    'cli-errors',
    'cli-ilp',
    'engine-costs',
    'engine-graph',
    'engine-manifest',
    'engine-ops',
    'engine-profile',
    'engine-train',
    'bounds',
    'fuzz',
    'native-build',
    'output-path',
    'launch-contract',
    'launch-cli',
    'launch-torch',
    'catalogue',
    'cli-init-import',
    'trace',
    'charts-words',
    'ilp-planner',
    'planner',
  ],
  slow: ['readme-run', 'launch-slurm', 'batch', 'bound-validity', 'relaxation-lemma', 'exactness', 'ilp-exactness', 'solver-backends'],
};

const dir = path.join(__dirname, 'test');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.test.ts')).map((f) => f.replace(/\.test\.ts$/, ''));
const owner = new Map();
for (const [tier, names] of Object.entries(TIERS)) {
  for (const n of names) {
    if (owner.has(n)) throw new Error(`.mocharc.js: test/${n}.test.ts is in tiers ${owner.get(n)} and ${tier}`);
    owner.set(n, tier);
  }
}
const unassigned = files.filter((f) => !owner.has(f));
if (unassigned.length > 0) throw new Error(`.mocharc.js: put ${unassigned.map((f) => `test/${f}.test.ts`).join(', ')} in a tier (unit, integration or slow)`);
const gone = [...owner.keys()].filter((n) => !files.includes(n));
if (gone.length > 0) throw new Error(`.mocharc.js: the tiers list test files that do not exist: ${gone.join(', ')}`);

const tier = process.env.MOSAIC_TEST_TIER;
if (tier !== undefined && tier !== '' && !(tier in TIERS)) throw new Error(`.mocharc.js: MOSAIC_TEST_TIER must be one of ${Object.keys(TIERS).join(', ')} but is "${tier}"`);
const names = tier ? TIERS[tier] : Object.values(TIERS).flat();

module.exports = {
  spec: names.map((n) => `dist/test/${n}.test.js`),
  timeout: 60000,
  reporter: 'dot',
};
