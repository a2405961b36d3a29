/**
 * The op manifest (src/engine/ops.json) is the only place the op set is written: the generated TS
 * and C++ tables are current, the addon's schemas are the manifest's, and every op has a native
 * kernel and a TS reference (a missing one fails here, loudly, as well as at compile time).
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';

import { MosaicError } from '../src/errors';
import { loadNative, runGraph } from '../src/engine/native';
import { OP_NAMES, OP_SCHEMAS, bufferNeeds, normalizeOp, referenceOp, type Op } from '../src/engine/ops';

const ROOT = path.resolve(__dirname, '..', '..');

/** The smallest valid instance of an op: sizes 1, offsets 0, flags false, floats from their defaults or 0.5. */
function smallest(name: (typeof OP_NAMES)[number]): { op: Op; buffers: Float32Array[] } {
  const fields: Record<string, number | boolean | string> = { op: name };
  let b = 0;
  for (const [field, kind] of OP_SCHEMAS[name].fields) {
    if (kind === 'buffer') fields[field] = b++;
    else if (kind === 'flag') fields[field] = false;
    else if (kind === 'offset') fields[field] = 0;
    else if (kind === 'number') fields[field] = (OP_SCHEMAS[name].defaults[field] as number | undefined) ?? 0.5;
    else fields[field] = 1;
  }
  const op = fields as unknown as Op;
  const lengths = new Array<number>(b).fill(1);
  for (const need of bufferNeeds(normalizeOp(op))) lengths[need.index] = Math.max(lengths[need.index] as number, need.elements);
  // Labels (class indices) of 0 are valid for any class count.
  return { op, buffers: lengths.map((n) => new Float32Array(n)) };
}

describe('op manifest (src/engine/ops.json)', function () {
  this.timeout(60000);

  it('the generated files are current (scripts/gen-ops.js --check)', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-ops.js'), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
  });

  it('the addon was built from the same manifest: its field order is the generated schemas\'', () => {
    const r = loadNative();
    if (!r.ok) throw new Error(r.reason);
    const native = r.binding.opFields();
    expect(Object.keys(native)).to.deep.equal([...OP_NAMES]);
    for (const name of OP_NAMES) expect(native[name], name).to.deep.equal(OP_SCHEMAS[name].fields.map(([f]) => f));
  });

  for (const name of OP_NAMES) {
    it(`${name}: a native kernel and a TS reference exist`, async () => {
      const { op, buffers } = smallest(name);
      expect(() => referenceOp(op, buffers.map((x) => Float32Array.from(x)))).not.to.throw();
      try {
        await runGraph({ contexts: [{ id: 0, cores: [loadNativeCore()] }], tasks: [{ id: 0, context: 0, ops: [op], deps: [] }], buffers });
      } catch (err) {
        // No kernel would be E_INTERNAL "no kernel for op"; anything else is a bug in this test.
        expect.fail(`${name}: ${(err as MosaicError).code}: ${(err as Error).message}`);
      }
    });
  }
});

function loadNativeCore(): number {
  const r = loadNative();
  if (!r.ok) throw new Error(r.reason);
  return r.binding.cpuInfo().allowedCores[0] as number;
}
