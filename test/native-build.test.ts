import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from './helpers/fixtures';

describe('native build: offline, with no npm config', () => {
  it("`npm ci`'s install step builds against the running Node's own headers (no download, no nodedir in any npmrc)", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.install).to.equal('node scripts/build-native.js');
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-home-'));
    try {
      // A bare environment: no npm_config_* variables, an empty HOME (no ~/.npmrc, no node-gyp cache).
      const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/build-native.js'), '--dry-run'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home } });
      expect(r.status, r.stderr).to.equal(0);
      const { nodeGyp, args } = JSON.parse(r.stdout) as { nodeGyp: string; args: string[] };
      const prefix = path.resolve(process.execPath, '../..');
      expect(fs.existsSync(path.join(prefix, 'include/node/node_api.h')), 'this Node ships its headers').to.equal(true);
      expect(args).to.include(`--nodedir=${prefix}`);
      expect(args.slice(0, 3)).to.deep.equal(['rebuild', '--directory', path.join(ROOT, 'native')]);
      expect(fs.existsSync(nodeGyp), `node-gyp found without npm: ${nodeGyp}`).to.equal(true);
      expect(fs.readdirSync(home)).to.deep.equal([]);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
