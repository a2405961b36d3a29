import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { moduleBreakdown } from '../src/perf/breakdown';
import { buildPerfModel } from '../src/perf/perf-model';
import { simulateIteration } from '../src/perf/simulate';
import { planModel } from '../src/plan/planner';
import { chromeTrace, type TraceEvent } from '../src/report/trace';
import { formatModules } from '../src/report/plan-text';
import type { Plan } from '../src/spec/plan';
import { resolveCluster, resolveModel } from '../src/spec/resolve';
import { CLI, ROOT } from './helpers/fixtures';

describe('communication per module and the Chrome/Perfetto trace', () => {
  let dir: string;
  let plan: Plan;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-trace-'));
    // The baseline plan of imagebind-llm on 4 nodes of 8 H100: the LLM's replicas span nodes.
    plan = (await planModel(resolveModel('imagebind-llm'), resolveCluster('h100-4x8'), undefined, { method: 'baseline' })).best;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const simulate = (p: Plan) => simulateIteration(buildPerfModel(p.model, p.cluster, p.profile), p.gpus, p.replicas);

  it("the plan's prediction carries each module's all-reduce (time, bytes, link) as the simulator charged it", () => {
    const sim = simulate(plan);
    const llm = plan.prediction.stages.find((s) => s.module === 'llm')!;
    expect(llm.communication!.allReduce.ms).to.equal(sim.syncMs.get('llm'));
    expect(llm.communication!.allReduce.ms).to.be.greaterThan(0.5 * plan.prediction.iterationMs);
    expect(llm.communication!.allReduce.link).to.equal('inter-node');
    expect(llm.communication!.allReduce.bytes).to.be.greaterThan(1e9);
    // Idle leaves out the part of the all-reduce that runs after the last backward; the rest hides under backwards.
    const event = sim.communication.find((c) => c.kind === 'all-reduce' && c.module === 'llm')!;
    expect(event.exposedMs!).to.be.within(0, llm.communication!.allReduce.ms);
    expect(llm.idleMs).to.be.closeTo(plan.prediction.iterationMs - llm.computeMs! - event.exposedMs!, 1e-9);
    expect(llm.communication!.allReduce.buckets).to.equal(event.buckets).and.to.be.greaterThan(1);
    expect(llm.communication!.allReduce.exposedMs).to.equal(event.exposedMs);
    // The text says how much of it the backwards hide, and (link-bound here) what would pay fewer latencies.
    const line = formatModules(plan.prediction.stages, 'gpu', plan.prediction.iterationMs).find((l) => l.includes('gradient all-reduce of llm'))!;
    expect(line).to.include(`in ${event.buckets} buckets`).and.to.include('after the last backward').and.to.include('optimizer.gradientBucketMiB');
    expect(moduleBreakdown(plan.model.modules.map((m) => m.name), sim, plan.replicas).find((s) => s.module === 'llm')).to.deep.equal(llm);
  });

  it('every simulated task and every transfer is one complete event with its start and duration; every GPU and slot is named', () => {
    const sim = simulate(plan);
    const file = path.join(dir, 'iteration.trace.json');
    const planFile = path.join(dir, 'plan.json');
    fs.writeFileSync(planFile, JSON.stringify(plan));
    const r = spawnSync(process.execPath, [CLI, 'show', planFile, '--trace', file], { encoding: 'utf8', cwd: ROOT });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include(`wrote ${file}`);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
    const trace = JSON.parse(fs.readFileSync(file, 'utf8')) as { traceEvents: TraceEvent[]; displayTimeUnit: string };
    expect(trace.displayTimeUnit).to.equal('ms');
    expect(trace).to.deep.equal(JSON.parse(JSON.stringify(chromeTrace(plan, sim))));

    const complete = trace.traceEvents.filter((e) => e.ph === 'X');
    for (const e of complete) {
      expect(e).to.include.keys('name', 'cat', 'ts', 'dur', 'pid', 'tid', 'args');
      expect(e.dur!).to.be.at.least(0);
    }
    // Compute: one event per task, same slot, start and duration (microseconds).
    const compute = complete.filter((e) => e.cat === 'compute');
    expect(compute).to.have.length(sim.timeline.length);
    const key = (slot: string, module: string, kind: string, mb: number | undefined) => `${slot}|${module}|${kind}|${mb ?? -1}`;
    const byKey = new Map(compute.map((e) => [key(e.args.slot as string, e.args.module as string, e.args.kind as string, e.args.microbatch as number | undefined), e]));
    expect(byKey.size).to.equal(sim.timeline.length);
    for (const t of sim.timeline) {
      const e = byKey.get(key(t.slot, t.module, t.kind, t.microbatch >= 0 ? t.microbatch : undefined))!;
      expect(e, `${t.module} ${t.kind} ${t.microbatch}`).to.exist;
      expect(e.ts!).to.be.closeTo(t.startMs * 1000, 1e-6);
      expect(e.dur!).to.be.closeTo((t.endMs - t.startMs) * 1000, 1e-6);
      if (t.kind !== 'optimizer') expect(e.args.microbatch).to.equal(t.microbatch);
    }
    // Communication: an all-reduce on every replica's slot, a transfer on its sender's.
    const comm = complete.filter((e) => e.cat === 'communication');
    const expected = sim.communication.reduce((n, c) => n + (c.kind === 'all-reduce' ? c.slots.length : 1), 0);
    expect(comm).to.have.length(expected);
    expect(comm.some((e) => e.args.kind === 'all-reduce' && e.args.link === 'inter-node')).to.equal(true);
    expect(comm.some((e) => e.args.kind === 'activations')).to.equal(true);
    const llmSync = comm.find((e) => e.args.kind === 'all-reduce' && e.args.module === 'llm')!;
    // It spans the first bucket's start to the last's end, at least the links' time of all buckets.
    const llmEvent = sim.communication.find((c) => c.kind === 'all-reduce' && c.module === 'llm')!;
    expect(llmSync.dur!).to.be.closeTo((llmEvent.endMs - llmEvent.startMs) * 1000, 1e-6);
    expect(llmSync.dur!).to.be.at.least(sim.syncMs.get('llm')! * 1000 * (1 - 1e-9));
    // No two events of one thread overlap (viewers need properly nested slices).
    const threads = new Map<string, TraceEvent[]>();
    for (const e of complete) threads.set(`${e.pid}/${e.tid}`, [...(threads.get(`${e.pid}/${e.tid}`) ?? []), e]);
    for (const [, evs] of threads) {
      evs.sort((a, b) => a.ts! - b.ts!);
      for (let i = 1; i < evs.length; i++) expect(evs[i].ts!).to.be.at.least(evs[i - 1].ts! + evs[i - 1].dur! - 1e-6);
    }
    // Names: a process per GPU, a thread per slot and per communication lane in use.
    const processNames = new Map(trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => [e.pid, e.args.name]));
    expect(processNames.size).to.equal(plan.gpus.length);
    plan.gpus.forEach((g) => expect(processNames.get(g.id + 1)).to.equal(`GPU ${g.id} (node ${g.node})`));
    const threadNames = new Set(trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => `${e.pid}/${e.tid}`));
    for (const t of threads.keys()) expect(threadNames.has(t), t).to.equal(true);
    expect(threadNames.size).to.be.at.least(plan.gpus.reduce((n, g) => n + g.slots.length, 0));
  });
});
