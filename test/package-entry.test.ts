import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from './helpers/fixtures';

describe('package entry', () => {
  it("package.json's main and types exist, and main loads with the planner and the engine", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main: string; types: string };
    expect(fs.existsSync(path.join(ROOT, pkg.types)), pkg.types).to.equal(true);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const entry = require(path.join(ROOT, pkg.main)) as Record<string, unknown>;
    for (const name of ['planModel', 'exactSearch', 'planLowerBound', 'trainPlan', 'profileModel', 'runBatch', 'validatePlan']) expect(entry[name], name).to.be.a('function');
  });

  it("package.json's bins are executable after the build (npx reuses a cached link and does not set the bit again)", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(Object.keys(pkg.bin)).to.not.be.empty;
    for (const bin of Object.values(pkg.bin)) expect(fs.statSync(path.join(ROOT, bin)).mode & 0o111, `${bin} is executable`).to.equal(0o111);
  });
});
