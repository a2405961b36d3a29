import { expect } from 'chai';
import { launchContract, checkContract, mpsPercentage } from '../src/launch/contract';
import type { LaunchContract } from '../src/spec/types';
import { planModel } from '../src/plan/planner';
import { parseCluster, parseModel } from '../src/spec/load';
import { readJsonFile } from '../src/spec/json-file';
import type { Plan } from '../src/spec/plan';
import { bundled } from './helpers/fixtures';
import { unevenBuiltinPlan } from './helpers/launch-plans';

/** The properties every contract must have, whatever the plan. */
function checkProperties(plan: Plan, c: LaunchContract, where: string): void {
  expect(checkContract(c, where), where).to.deep.equal([]);
  // Every rank appears once, numbered 0..N-1, and each node lists exactly its ranks.
  expect(c.ranks.map((r) => r.rank), where).to.deep.equal([...Array(c.worldSize).keys()]);
  expect(c.nodes.flatMap((n) => n.ranks).sort((a, b) => a - b), where).to.deep.equal([...Array(c.worldSize).keys()]);
  for (const n of c.nodes) for (const [i, r] of n.ranks.entries()) expect(c.ranks[r].localRank, where).to.equal(i);
  // Every slot of the plan belongs to exactly one rank (one rank per slot, or per GPU).
  const slotIds = plan.gpus.flatMap((g) => g.slots.map((s) => s.id)).sort();
  expect(c.ranks.flatMap((r) => r.slots.map((s) => s.id)).sort(), where).to.deep.equal(slotIds);
  for (const r of c.ranks) {
    if (c.processPer === 'slot') expect(r.slots, where).to.have.length(1);
    else expect(new Set(plan.gpus.find((g) => g.id === r.gpu)!.slots.map((s) => s.id)), where).to.deep.equal(new Set(r.slots.map((s) => s.id)));
  }
  const ranksOfSlot = new Map(c.ranks.flatMap((r) => r.slots.map((s) => [s.id, r.rank] as const)));
  for (const m of plan.model.modules) {
    const cm = c.modules.find((x) => x.name === m.name)!;
    const reps = plan.replicas.filter((r) => r.module === m.name);
    // Groups match the plan's replicas: same indices, slots and samples, on the ranks that hold those slots.
    const sig = (r: { index: number; slot: string; samples: number }) => `${r.index}@${r.slot}:${r.samples}`;
    expect(cm.replicas.map(sig).sort(), where).to.deep.equal(reps.map(sig).sort());
    const misplaced = cm.replicas.filter((r) => ranksOfSlot.get(r.slot) !== r.rank);
    expect(misplaced, where).to.deep.equal([]);
    expect(cm.group, where).to.deep.equal([...new Set(cm.replicas.map((r) => r.rank))].sort((a, b) => a - b));
    // Weights sum to 1; microbatches partition the batch with each replica's share.
    expect(cm.replicas.reduce((s, r) => s + r.gradientWeight, 0), where).to.be.closeTo(1, 1e-12);
    expect(cm.replicas.filter((r) => r.microbatches.length * c.batch.micro !== r.samples), where).to.deep.equal([]);
    expect(cm.replicas.flatMap((r) => r.microbatches).sort((a, b) => a - b), where).to.deep.equal([...Array(c.batch.microbatches).keys()]);
  }
  // Sends and receives match one to one (sender, receiver, replicas, microbatches).
  const key = (from: number, to: number, e: { module: string; replica: number; toModule: string; toReplica: number; microbatches: readonly number[] }) => `${from}>${to}:${e.module}#${e.replica}>${e.toModule}#${e.toReplica}:${e.microbatches.join(',')}`;
  const sent = c.ranks.flatMap((r) => r.sends.map((e) => key(r.rank, e.peer, e))).sort();
  const received = c.ranks.flatMap((r) => r.receives.map((e) => key(e.peer, r.rank, e))).sort();
  expect(sent, where).to.deep.equal(received);
}

describe('launch contract', () => {
  it('every bundled model × cluster: each plan (baselines and heuristic) gives a valid contract with one rank per slot and per GPU', async function () {
    this.timeout(300_000);
    let checked = 0;
    for (const mf of bundled('models')) {
      const model = parseModel(readJsonFile(mf), mf);
      for (const cf of bundled('clusters')) {
        const cluster = parseCluster(readJsonFile(cf), cf);
        let result;
        try {
          // The heuristic on the one-node clusters, the baselines on the multi-node ones (keeps this test short).
          result = await planModel(model, cluster, undefined, { method: cluster.nodes === 1 ? 'heuristic' : 'baseline' });
        } catch (err) {
          if ((err as { code?: string }).code === 'E_INFEASIBLE') continue;
          throw err;
        }
        for (const plan of result.plans) {
          for (const processPer of ['slot', 'gpu'] as const) {
            const c = launchContract(plan, { processPer });
            checkProperties(plan, c, `${model.name}/${cluster.name}/${plan.provenance}/${processPer}`);
            expect(launchContract(plan, { processPer })).to.deep.equal(c); // deterministic
            checked++;
          }
        }
      }
    }
    expect(checked).to.be.greaterThan(40);
  });

  it('an uneven colocated plan: exact weights, microbatch owners and the edges that cross ranks', () => {
    const plan = unevenBuiltinPlan();
    const c = launchContract(plan);
    checkProperties(plan, c, 'uneven');
    expect(c.worldSize).to.equal(3);
    expect(c.ranks.map((r) => [r.gpu, r.localGpu, r.slots[0].id, r.slots[0].mpsPercentage])).to.deep.equal([[0, 0, 'g0.s0', 50], [0, 0, 'g0.s1', 50], [1, 1, 'g1.s0', 100]]);
    const head = c.modules.find((m) => m.name === 'head')!;
    expect(head.replicas.map((r) => [r.rank, r.samples, r.gradientWeight])).to.deep.equal([[1, 24, 0.75], [2, 8, 0.25]]);
    expect(head.group).to.deep.equal([1, 2]);
    // The simulator's interleaved assignment: 6 microbatches to head#0, 2 to head#1.
    expect(head.replicas[1].microbatches).to.deep.equal([3, 7]);
    // Rank 1 (head only) receives every image and audio microbatch it trains on, from rank 0 or 2.
    const got = c.ranks[1].receives.flatMap((e) => e.microbatches.map((k) => `${e.module}:${k}`)).sort();
    const want = ['image', 'audio'].flatMap((m) => head.replicas[0].microbatches.map((k) => `${m}:${k}`)).sort();
    expect(got).to.deep.equal(want);
    expect(c.ranks[1].sends).to.deep.equal([]);
    // Per GPU: two ranks.
    const g = launchContract(plan, { processPer: 'gpu' });
    checkProperties(plan, g, 'uneven/gpu');
    expect(g.ranks.map((r) => r.slots.map((s) => s.id))).to.deep.equal([['g0.s0', 'g0.s1'], ['g1.s0']]);
  });

  it('MPS percentages never sum past 100 on a GPU and are at least 1', () => {
    expect(mpsPercentage(8, 132)).to.equal(6);
    expect(mpsPercentage(132, 132)).to.equal(100);
    expect(mpsPercentage(1, 1000)).to.equal(1);
    expect(mpsPercentage(64, 132) + mpsPercentage(40, 132) + mpsPercentage(24, 132) + mpsPercentage(4, 132)).to.be.at.most(100);
  });

  it('the schema refuses a broken contract with a JSON path', () => {
    const c = launchContract(unevenBuiltinPlan()) as unknown as { ranks: { slots: { mpsPercentage: number }[] }[] };
    c.ranks[0].slots[0].mpsPercentage = 101;
    expect(checkContract(c, 'x.json')).to.deep.equal(['x.json: /ranks/0/slots/0/mpsPercentage: must be <= 100']);
  });
});
