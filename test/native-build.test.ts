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

  it('a current build is kept (npx reruns the install script when it first links a clone); a newer source or another Node rebuilds', () => {
    // A copy of the script and of native/'s sources, addon and stamp: the real tree is not touched.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-native-'));
    try {
      fs.mkdirSync(path.join(dir, 'scripts'));
      fs.copyFileSync(path.join(ROOT, 'scripts/build-native.js'), path.join(dir, 'scripts/build-native.js'));
      fs.cpSync(path.join(ROOT, 'native/src'), path.join(dir, 'native/src'), { recursive: true });
      fs.copyFileSync(path.join(ROOT, 'native/binding.gyp'), path.join(dir, 'native/binding.gyp'));
      fs.mkdirSync(path.join(dir, 'native/build/Release'), { recursive: true });
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
      const probe = () => JSON.parse(spawnSync(process.execPath, [path.join(dir, 'scripts/build-native.js'), '--dry-run'], { encoding: 'utf8', env }).stdout) as { upToDate: boolean; stamp: string };
      const dryRun = () => probe().upToDate;
      expect(dryRun(), 'no addon yet').to.equal(false);
      const addon = path.join(dir, 'native/build/Release/mosaic_native.node');
      fs.copyFileSync(path.join(ROOT, 'native/build/Release/mosaic_native.node'), addon);
      fs.utimesSync(addon, new Date(), new Date()); // built after the sources were written (a copy keeps the old time)
      // The stamp a build that succeeded writes: what it was built for (Node ABI, N-API, node-gyp arguments).
      const stamp = probe().stamp;
      expect(JSON.parse(stamp).nodeAbi).to.equal(process.versions.modules);
      fs.writeFileSync(path.join(dir, 'native/build/mosaic-build.json'), stamp);
      expect(dryRun(), 'the addon and stamp of a finished build').to.equal(true);
      const later = new Date(Date.now() + 60_000);
      fs.utimesSync(path.join(dir, 'native/src/addon.cc'), later, later);
      expect(dryRun(), 'a source newer than the addon').to.equal(false);
      fs.utimesSync(path.join(dir, 'native/src/addon.cc'), new Date(0), new Date(0));
      fs.writeFileSync(path.join(dir, 'native/build/mosaic-build.json'), stamp.replace(/"nodeAbi":"\d+"/, '"nodeAbi":"0"'));
      expect(dryRun(), 'built for another Node').to.equal(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
