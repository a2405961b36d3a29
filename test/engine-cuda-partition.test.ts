/**
 * CUDA backend: quota → SM-group rounding (pure TS), and the driver probe / loader behaviour on a
 * machine without a GPU driver.
 */
import { expect } from 'chai';
import * as fc from 'fast-check';

import {
  H100_SXM,
  granularityForComputeCapability,
  granularityFromProbe,
  partitionSms,
  type ModuleQuota,
} from '../src/engine/cuda-partition';
import { EngineError, cudaCreatePartition, cudaProbe, cudaRunGraph, describeBackends, loadNative } from '../src/engine/native';

const q = (...pairs: [string, number][]): ModuleQuota[] => pairs.map(([module, quotaFraction]) => ({ module, quotaFraction }));
const sizes = (quotas: ModuleQuota[], g = H100_SXM): number[] => partitionSms(quotas, g).groups.map((x) => x.smCount);

describe('cuda partition: quotas to SM groups', () => {
  it('halves an H100 into 64 + 64 and reports the rounding error', () => {
    const p = partitionSms(q(['vision', 0.5], ['text', 0.5]), H100_SXM);
    expect(p.groups.map((g) => g.smCount)).to.deep.equal([64, 64]);
    expect(p.groups.map((g) => g.roundingErrorSms)).to.deep.equal([-2, -2]);
    expect(p.assignedSms).to.equal(128);
    expect(p.unusedSms).to.equal(4);
    expect(p.maxAbsRoundingErrorSms).to.equal(2);
    expect(p.groups[0]!.realizedQuotaFraction).to.be.closeTo(64 / 132, 1e-12);
  });

  it('rounds to multiples of the step', () => {
    expect(sizes(q(['a', 0.25], ['b', 0.75]))).to.deep.equal([32, 96]);
    expect(sizes(q(['a', 0.3], ['b', 0.3], ['c', 0.4]))).to.deep.equal([40, 40, 48]); // 39.6, 39.6, 52.8 → grows a and b
  });

  it('never gives a group less than the minimum', () => {
    expect(sizes(q(['tiny', 0.01], ['big', 0.99]))).to.deep.equal([8, 120]);
  });

  it('shrinks the most over-served group when minimums overflow the device', () => {
    expect(sizes(q(['a', 0.1], ['b', 0.1], ['c', 0.8]), { smCount: 24, minSms: 8, stepSms: 8 })).to.deep.equal([8, 8, 8]);
  });

  it('grows the most under-served groups first while it reduces their error', () => {
    expect(sizes(q(['a', 0.333], ['b', 0.333], ['c', 0.334]), { smCount: 100, minSms: 2, stepSms: 2 })).to.deep.equal([34, 32, 34]);
  });

  it('leaves SMs idle when the quotas leave them idle', () => {
    const p = partitionSms(q(['a', 0.25]), H100_SXM);
    expect(p.groups[0]!.smCount).to.equal(32);
    expect(p.unusedSms).to.equal(100);
  });

  it('rejects bad quotas and infeasible requests with clear messages', () => {
    expect(() => partitionSms(q(['vision', 1.5]), H100_SXM)).to.throw(EngineError, 'Expected a quota in (0, 1] for module "vision" but received 1.5');
    expect(() => partitionSms(q(['vision', 0]), H100_SXM)).to.throw('Expected a quota in (0, 1] for module "vision" but received 0');
    expect(() => partitionSms(q(['vision', Number.NaN]), H100_SXM)).to.throw('received NaN');
    expect(() => partitionSms(q(['a', 0.7], ['b', 0.5]), H100_SXM)).to.throw('Expected quotas on one device to sum to at most 1 but they sum to 1.2 (a 0.7, b 0.5)');
    expect(() => partitionSms(q(['a', 0.5], ['a', 0.5]), H100_SXM)).to.throw('"a" appears twice');
    expect(() => partitionSms([], H100_SXM)).to.throw('at least one module');
    expect(() => partitionSms(q(['a', 0.5]), { smCount: 0, minSms: 8, stepSms: 8 })).to.throw('Expected smCount to be a positive integer but received 0');
    const many = Array.from({ length: 17 }, (_, i): [string, number] => [`m${i}`, 1 / 17]);
    try {
      partitionSms(q(...many), H100_SXM);
      expect.fail('expected E_PARTITION_INFEASIBLE');
    } catch (e) {
      expect((e as EngineError).code).to.equal('E_PARTITION_INFEASIBLE');
      expect((e as Error).message).to.equal('Cannot give 17 modules at least 8 SMs each on a device with 132 usable SMs');
    }
  });

  it('holds its invariants for any quotas and granularity (property)', () => {
    const arb = fc.record({
      minSms: fc.integer({ min: 1, max: 16 }),
      stepSms: fc.integer({ min: 1, max: 16 }),
      smCount: fc.integer({ min: 16, max: 200 }),
      weights: fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 6 }),
      fill: fc.double({ min: 0.05, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(arb, ({ minSms, stepSms, smCount, weights, fill }) => {
        fc.pre(weights.length * minSms <= smCount);
        const total = weights.reduce((a, b) => a + b, 0);
        const quotas = weights.map((w, i) => ({ module: `m${i}`, quotaFraction: Math.max(1e-6, (w / total) * fill * (1 - 1e-12)) }));
        const p = partitionSms(quotas, { smCount, minSms, stepSms });
        expect(p.assignedSms).to.be.at.most(smCount);
        const noneForcedUp = p.groups.every((g) => g.targetSms >= minSms);
        for (const g of p.groups) {
          expect(g.smCount).to.be.at.least(minSms);
          expect((g.smCount - minSms) % stepSms).to.equal(0);
          // When no module is lifted to the minimum, every group is within one step of its target.
          if (noneForcedUp) expect(Math.abs(g.roundingErrorSms)).to.be.below(stepSms + 1e-9);
        }
      }),
      { numRuns: 300, seed: 1234 },
    );
  });

  it('knows the documented granularity per architecture and what a probed device can realize', () => {
    expect(granularityForComputeCapability(9, 132)).to.deep.equal(H100_SXM);
    expect(granularityForComputeCapability(8, 108)).to.deep.equal({ smCount: 108, minSms: 4, stepSms: 2 });
    expect(granularityForComputeCapability(7, 80)).to.deep.equal({ smCount: 80, minSms: 2, stepSms: 2 });
    expect(() => granularityForComputeCapability(5, 16)).to.throw(EngineError, 'compute capability');
    expect(granularityFromProbe({ partitionUnitSms: 8, partitionUnits: 16 })).to.deep.equal({ smCount: 128, minSms: 8, stepSms: 8 });
  });
});

describe('cuda backend without a driver', () => {
  it('the addon loads and says which backends run here', () => {
    const r = loadNative();
    expect(r.ok, r.ok ? '' : r.reason).to.equal(true);
    const backends = describeBackends();
    const cpu = backends.find((b) => b.backend === 'cpu');
    expect(cpu).to.deep.include({ available: true });
    const cuda = backends.find((b) => b.backend === 'cuda');
    expect(cuda?.available).to.equal(false);
  });

  it('cudaProbe reports unavailable with the dlopen reason', function () {
    const p = cudaProbe();
    if (p.available) this.skip(); // a machine with a driver
    expect(p.available).to.equal(false);
    if (p.compiled) expect(p.reason).to.match(/^libcuda\.so\.1 not found \(dlopen: .+\)$|^cuInit failed|no CUDA devices/);
    else expect(p.reason).to.match(/built without CUDA headers/);
  });

  it('partitions and graphs fail with E_CUDA_UNAVAILABLE (and bad requests are caught first)', function () {
    if (cudaProbe().available) this.skip();
    expect(() => cudaCreatePartition(0, [64, 64])).to.throw(EngineError).with.property('code', 'E_CUDA_UNAVAILABLE');
    expect(() => cudaCreatePartition(0, [0])).to.throw(EngineError, 'Expected the SM count of group 0 to be a positive integer but received 0');
    expect(() => cudaRunGraph({ contexts: [], tasks: [], buffers: [] })).to.throw(EngineError).with.property('code', 'E_CUDA_UNAVAILABLE');
  });
});
