/**
 * The native task-graph executor: contexts on disjoint cores run concurrently, dependencies
 * order tasks, cancellation stops cleanly, and bad input fails with stable codes.
 */
import { expect } from 'chai';

import { EngineError, assignCpuCores, loadNative, runGraph, startGraph, type GraphSpec, type TaskSpec } from '../src/engine/native';
import { referenceOp, type Op } from '../src/engine/ops';
import { allowedCores, unusableCore, usableCores } from './helpers/cores';

const N = 256;
/** One 256³ GEMM: ~33 MFLOP, a few ms on one core. */
const gemm: Op = { op: 'gemm', a: 0, b: 1, c: 2, m: N, n: N, k: N };

function gemmBuffers(extra = 0): Float32Array[] {
  const a = Float32Array.from({ length: N * N }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
  const b = Float32Array.from({ length: N * N }, (_, i) => ((i * 5) % 11) / 11 - 0.5);
  const bufs = [a, b, new Float32Array(N * N), new Float32Array(N * N)];
  for (let i = 0; i < extra; i++) bufs.push(new Float32Array(64));
  return bufs;
}

/** Busy tasks: a few GEMMs each. Nothing here depends on how long they take (no sleeps, no deadlines). */
const gemmsPerTask = 4;

async function expectCode(p: Promise<unknown> | (() => unknown), code: string, message?: RegExp): Promise<EngineError> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(EngineError);
    expect((err as EngineError).code, (err as Error).message).to.equal(code);
    if (message) expect((err as Error).message).to.match(message);
    return err as EngineError;
  }
  return expect.fail(`expected an error with code ${code}`);
}

describe('engine graph executor (cpu backend)', function () {
  this.timeout(30000);

  let c0 = 0;
  before(function () {
    const r = loadNative();
    if (!r.ok) throw new Error(r.reason);
    c0 = allowedCores()[0] as number;
  });

  it('runs two contexts on disjoint cores concurrently (their busy intervals overlap)', async function () {
    const [a0, a1] = usableCores(this, 2);
    const bufs = gemmBuffers();
    const ops0 = Array.from({ length: gemmsPerTask }, () => gemm);
    const ops1 = Array.from({ length: gemmsPerTask }, (): Op => ({ ...gemm, c: 3 }));
    // Each task waits, before its first op, until the other has started: the run can only finish if
    // the two contexts run at once (a serialising executor would hang, and mocha's timeout fails it).
    const res = await runGraph({
      contexts: [{ id: 10, cores: [a0!] }, { id: 11, cores: [a1!] }],
      tasks: [{ id: 1, context: 10, ops: ops0, deps: [], testWaitFor: 2 }, { id: 2, context: 11, ops: ops1, deps: [], testWaitFor: 1 }],
      buffers: bufs,
    });
    expect(res.cancelled).to.equal(false);
    const [a, b] = [res.tasks.find((t) => t.id === 1), res.tasks.find((t) => t.id === 2)];
    expect(a?.context).to.equal(10);
    expect(b?.context).to.equal(11);
    const overlapNs = Math.min(a!.endNs, b!.endNs) - Math.max(a!.startNs, b!.startNs);
    expect(overlapNs, `intervals ${JSON.stringify(res.tasks)}`).to.be.at.least(0);
    // Both computed the same product.
    expect(Array.from(bufs[2]!.subarray(0, 16))).to.deep.equal(Array.from(bufs[3]!.subarray(0, 16)));
  });

  it('starts a task only after its dependencies end, across contexts, and the data shows the order', async function () {
    const [a0, a1] = usableCores(this, 2);
    const busy = Array.from({ length: Math.max(2, gemmsPerTask >> 3) }, () => gemm);
    const bufs = [...gemmBuffers(), new Float32Array(8), new Float32Array(8)];
    const tasks: TaskSpec[] = [
      { id: 1, context: 0, ops: [...busy, { op: 'fill', dst: 4, n: 8, value: 2 }], deps: [] },
      { id: 2, context: 1, ops: [{ op: 'copy', src: 4, dst: 5, n: 8 }, ...busy], deps: [1] },
      { id: 3, context: 0, ops: [{ op: 'accumulate', src: 5, dst: 4, n: 8, alpha: 3 }], deps: [2] },
    ];
    const res = await runGraph({ contexts: [{ id: 0, cores: [a0!] }, { id: 1, cores: [a1!] }], tasks, buffers: bufs });
    const t = new Map(res.tasks.map((x) => [x.id, x]));
    expect(t.get(2)!.startNs).to.be.at.least(t.get(1)!.endNs);
    expect(t.get(3)!.startNs).to.be.at.least(t.get(2)!.endNs);
    expect(Array.from(bufs[4]!)).to.deep.equal(new Array(8).fill(8)); // 2 + 3·2
    expect(res.wallNs).to.be.at.least(t.get(3)!.endNs);
  });

  it('runs ready tasks of one context one at a time, in submission order', async function () {
    const cores = usableCores(this, Math.min(2, allowedCores().length));
    const bufs = gemmBuffers();
    const res = await runGraph({
      contexts: [{ id: 0, cores }],
      tasks: [5, 3, 9].map((id) => ({ id, context: 0, ops: [gemm], deps: [] })),
      buffers: bufs,
    });
    expect(res.tasks.map((x) => x.id)).to.deep.equal([5, 3, 9]);
    for (let i = 1; i < res.tasks.length; i++) expect(res.tasks[i]!.startNs).to.be.at.least(res.tasks[i - 1]!.endNs);
  });

  it('matches the sequential reference on a two-context training step (SGD on two linear models)', async function () {
    const [a0, a1] = usableCores(this, 2);
    // Two modules, each y = x W, MSE to a target, one SGD step; then a fusion task sums the weights.
    const r = (seed: number, n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i * 1.7));
    const make = (): Float32Array[] => [r(1, 8 * 6), r(2, 6 * 4), r(3, 8 * 4), new Float32Array(8 * 4), new Float32Array(1), new Float32Array(8 * 4), new Float32Array(6 * 4),
      r(4, 8 * 6), r(5, 6 * 4), r(6, 8 * 4), new Float32Array(8 * 4), new Float32Array(1), new Float32Array(8 * 4), new Float32Array(6 * 4), new Float32Array(6 * 4)];
    const step = (o: number): Op[] => [
      { op: 'gemm', a: o, b: o + 1, c: o + 3, m: 8, n: 4, k: 6 },
      { op: 'mseLoss', pred: o + 3, target: o + 2, loss: o + 4, n: 32 },
      { op: 'mseLossBackward', pred: o + 3, target: o + 2, dPred: o + 5, n: 32 },
      { op: 'gemm', a: o, b: o + 5, c: o + 6, m: 6, n: 4, k: 8, transA: true },
      { op: 'sgd', param: o + 1, grad: o + 6, n: 24, lr: 0.1 },
    ];
    const fuse: Op[] = [{ op: 'copy', src: 1, dst: 14, n: 24 }, { op: 'accumulate', src: 8, dst: 14, n: 24 }];
    const graph: GraphSpec = {
      contexts: [{ id: 0, cores: [a0!] }, { id: 1, cores: [a1!] }],
      tasks: [{ id: 0, context: 0, ops: step(0), deps: [] }, { id: 1, context: 1, ops: step(7), deps: [] }, { id: 2, context: 0, ops: fuse, deps: [0, 1] }],
      buffers: make(),
    };
    await runGraph(graph);
    const ref = make();
    for (const op of [...step(0), ...step(7), ...fuse]) referenceOp(op, ref);
    for (const i of [1, 8, 14, 4, 11]) {
      const [a, b] = [graph.buffers[i]!, ref[i]!];
      for (let j = 0; j < b.length; j++) expect(Math.abs(a[j]! - b[j]!), `buffer ${i}[${j}]`).to.be.at.most(1e-5 * Math.max(1, Math.abs(b[j]!)));
    }
  });

  it('cancel() stops at an op boundary and reports which tasks ran', async () => {
    const bufs = gemmBuffers();
    // A chain of 40 tasks; task 5 holds before its first op until the run is cancelled, so cancel()
    // lands mid-run however fast or slow the machine is.
    const ops = Array.from({ length: 3 }, () => gemm);
    const tasks: TaskSpec[] = Array.from({ length: 40 }, (_, i) => ({ id: i, context: 0, ops, deps: i > 0 ? [i - 1] : [], ...(i === 5 ? { testWaitFor: 'cancel' as const } : {}) }));
    const run = startGraph({ contexts: [{ id: 0, cores: [c0] }], tasks, buffers: bufs });
    await new Promise((resolve) => setImmediate(resolve));
    run.cancel();
    const res = await run.result;
    expect(res.cancelled).to.equal(true);
    const done = res.tasks.map((t) => t.id);
    expect(done).to.deep.equal(done.map((_, i) => i)); // a prefix of the chain
    expect(done.length).to.be.at.most(5);
    expect(done.length + res.interrupted.length + res.notStarted.length).to.equal(40);
    expect(res.notStarted).to.include.members(Array.from({ length: 34 }, (_, i) => i + 6));
    for (const it of res.interrupted) expect(it.opsCompleted).to.be.within(0, ops.length - 1);
  });

  it('an AbortSignal cancels a run', async () => {
    const ac = new AbortController();
    const ops = Array.from({ length: 2 }, () => gemm);
    // Task 0 holds until the run is cancelled: the abort provably lands before the run ends.
    const tasks: TaskSpec[] = Array.from({ length: 40 }, (_, i) => ({ id: i, context: 0, ops, deps: [], ...(i === 0 ? { testWaitFor: 'cancel' as const } : {}) }));
    const p = runGraph({ contexts: [{ id: 0, cores: [allowedCores().at(-1)!] }], tasks, buffers: gemmBuffers() }, { signal: ac.signal });
    setImmediate(() => ac.abort());
    const res = await p;
    expect(res.cancelled).to.equal(true);
    expect(res.tasks.length).to.be.lessThan(40);
  });

  describe('errors carry stable codes', () => {
    const ctx = [{ id: 0, cores: [allowedCores()[0] as number] }];
    const one = (op: unknown, buffers: Float32Array[] = [new Float32Array(4), new Float32Array(4)]): GraphSpec =>
      ({ contexts: ctx, tasks: [{ id: 1, context: 0, ops: [op as Op], deps: [] }], buffers });

    it('E_BAD_OP: unknown op, bad size, bad flag, forbidden aliasing', async () => {
      await expectCode(runGraph(one({ op: 'conv2d' })), 'E_BAD_OP', /Expected op at task 1 op 0 to be one of gemm/);
      await expectCode(runGraph(one({ op: 'relu', x: 0, y: 1, n: 0 })), 'E_BAD_OP', /Expected n in task 1 op 0 \(relu\) to be an integer >= 1 but received 0/);
      await expectCode(runGraph(one({ op: 'gemm', a: 0, b: 1, c: 1, m: 2, n: 2, k: 2 })), 'E_BAD_OP', /buffers b and c .* different/);
      await expectCode(runGraph(one({ op: 'gemm', a: 0, b: 1, c: 0, m: 1, n: 1, k: 1, transA: 1 })), 'E_BAD_OP', /transA .* boolean/);
      await expectCode(runGraph(one({ op: 'relu', x: 0, y: 1, n: 2, bogus: 1 })), 'E_BAD_OP', /Unexpected field "bogus"/);
    });

    it('E_BUFFER_RANGE: index out of range or buffer too short', async () => {
      await expectCode(runGraph(one({ op: 'relu', x: 0, y: 7, n: 2 })), 'E_BUFFER_RANGE', /buffer index in \[0, 2\) but received 7/);
      await expectCode(runGraph(one({ op: 'gemm', a: 0, b: 1, c: 2, m: 2, n: 2, k: 3 }, [new Float32Array(4), new Float32Array(6), new Float32Array(4)])), 'E_BUFFER_RANGE', /buffer a \(#0\) .* at least 6 elements but it holds 4/);
    });

    it('E_CORES: unavailable or shared cores', async () => {
      const g = (contexts: { id: number; cores: number[] }[]): GraphSpec => ({ contexts, tasks: [], buffers: [] });
      const missing = unusableCore();
      await expectCode(runGraph(g([{ id: 0, cores: [missing] }])), 'E_CORES', new RegExp(`core ${missing}\\b`));
      await expectCode(runGraph(g([{ id: 0, cores: [c0] }, { id: 1, cores: [c0, missing] }])), 'E_CORES', new RegExp(`Core ${c0} is given to contexts 0 and 1`));
      await expectCode(runGraph(g([{ id: 0, cores: [] }])), 'E_CORES');
    });

    it('E_CYCLE and E_BAD_GRAPH', async () => {
      const t = (id: number, deps: number[]): TaskSpec => ({ id, context: 0, ops: [], deps });
      await expectCode(runGraph({ contexts: ctx, tasks: [t(1, [3]), t(2, [1]), t(3, [2])], buffers: [] }), 'E_CYCLE', /cycle through tasks 1, 2, 3/);
      await expectCode(runGraph({ contexts: ctx, tasks: [t(1, [1])], buffers: [] }), 'E_CYCLE');
      await expectCode(runGraph({ contexts: ctx, tasks: [t(1, [9])], buffers: [] }), 'E_BAD_GRAPH', /unknown task 9/);
      await expectCode(runGraph({ contexts: ctx, tasks: [{ ...t(1, []), context: 4 }], buffers: [] }), 'E_BAD_GRAPH', /unknown context 4/);
    });

    it('E_BAD_VALUE from inside a running task rejects with the task id and what ran', async () => {
      const labels = new Float32Array([5, 0]); // 5 is not a class of 2
      const err = await expectCode(
        runGraph({
          contexts: ctx,
          tasks: [
            { id: 1, context: 0, ops: [{ op: 'fill', dst: 4, n: 2, value: 1 }], deps: [] },
            { id: 2, context: 0, ops: [{ op: 'softmaxCrossEntropy', logits: 1, labels: 0, loss: 2, probs: 3, rows: 2, cols: 2 }], deps: [1] },
          ],
          buffers: [labels, new Float32Array(4), new Float32Array(1), new Float32Array(4), new Float32Array(2)],
        }),
        'E_BAD_VALUE',
        /task 2 op 0 \(softmaxCrossEntropy\): label 5.* in row 0 is not a class index in \[0, 2\)/,
      );
      const e = err as EngineError & { taskId: number; partial: { tasks: { id: number }[] } };
      expect(e.taskId).to.equal(2);
      expect(e.partial.tasks.map((t) => t.id)).to.deep.equal([1]);
    });

    it('the native layer only guards (bypassing TS): memory and hangs, with codes that survive the boundary', async () => {
      const r = loadNative();
      if (!r.ok) throw new Error(r.reason);
      const raw = (g: unknown): unknown => r.binding.runGraph(g as never);
      const codeOf = (f: () => unknown): string => {
        try {
          f();
        } catch (e) {
          return (e as { code: string }).code;
        }
        return 'none';
      };
      const task = (op: unknown): unknown => ({ contexts: [{ id: 0, cores: [c0] }], tasks: [{ id: 1, context: 0, ops: [op], deps: [] }], buffers: [new Float32Array(4)] });
      expect(codeOf(() => raw(task({ op: 'nope' })))).to.equal('E_BAD_OP');
      expect(codeOf(() => raw(task({ op: 'relu', x: 0, y: 0, n: 5 })))).to.equal('E_BUFFER_RANGE');
      expect(codeOf(() => raw(task({ op: 'relu', x: 0, y: 3, n: 1 })))).to.equal('E_BUFFER_RANGE');
      expect(codeOf(() => raw(task({ op: 'fill', dst: 0, n: 1, offset: -8, value: 0 })))).to.equal('E_BAD_OP');
      expect(codeOf(() => raw({ contexts: [{ id: 0, cores: [] }], tasks: [], buffers: [] }))).to.equal('E_CORES');
      // Semantics (aliasing, flags, core sets) are validateGraph's; natively an unusable core fails the run.
      const run = raw({ contexts: [{ id: 0, cores: [unusableCore()] }], tasks: [{ id: 1, context: 0, ops: [], deps: [] }], buffers: [] }) as { promise: Promise<unknown> };
      await expectCode(run.promise, 'E_CORES');
      expect(codeOf(() => raw({ contexts: [{ id: 0, cores: [c0] }], tasks: [{ id: 1, context: 0, ops: [], deps: [2] }, { id: 2, context: 0, ops: [], deps: [1] }], buffers: [] }))).to.equal('E_CYCLE');
      expect(codeOf(() => raw({ contexts: [], tasks: [], buffers: [new Float64Array(2)] }))).to.equal('E_BUFFER_RANGE');
    });
  });

  it('assignCpuCores splits cores by quota and validates quotas', () => {
    expect(assignCpuCores([{ module: 'vision', quotaFraction: 0.5 }, { module: 'text', quotaFraction: 0.5 }], [0, 1])).to.deep.equal([
      { module: 'vision', cores: [0] },
      { module: 'text', cores: [1] },
    ]);
    expect(() => assignCpuCores([{ module: 'vision', quotaFraction: 1.5 }], [0, 1])).to.throw('Expected a quota in (0, 1] for module "vision" but received 1.5');
    expect(() => assignCpuCores([{ module: 'a', quotaFraction: 0.3 }, { module: 'b', quotaFraction: 0.3 }, { module: 'c', quotaFraction: 0.3 }], [0, 1]))
      .to.throw(EngineError, /Cannot give 3 modules at least 1 cores each on a device with 2 usable cores/);
  });
});
