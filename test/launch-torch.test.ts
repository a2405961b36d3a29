import { expect } from 'chai';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { launchContract } from '../src/launch/contract';
import { CLI, ROOT } from './helpers/fixtures';
import { torchPython, unevenBuiltinPlan } from './helpers/launch-plans';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });

type Weights = { modules: Record<string, Record<string, number[]>>; losses: number[] };

describe('PyTorch runtime under mosaic launch (CPU, gloo)', function () {
  this.timeout(300_000);
  let py: string | undefined;
  let dir: string;
  let plan: string;
  before(function () {
    py = torchPython();
    if (!py) {
      console.warn('\n  !!! SKIPPED: no python3 with torch here (apt-get install -y python3-torch; .ci/run does it) !!!\n');
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-torch-'));
    plan = path.join(dir, 'plan.json');
    fs.writeFileSync(plan, JSON.stringify(unevenBuiltinPlan()));
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  /** Train 4 steps under `mosaic launch` and compare every replica's weights with one process on the whole batch. */
  const trainAndCompare = async (planFile: string, out: string, extra: readonly string[]): Promise<string> => {
    const example = path.join(ROOT, 'python/examples/train_builtin.py');
    const steps = '4';
    const r = spawnSync(process.execPath, [CLI, 'launch', planFile, '--quota-mode', 'none', '--master-port', String(await freePort()), '--', py!, example, '--steps', steps, '--out', out, ...extra], { encoding: 'utf8', cwd: ROOT });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    for (const rank of [0, 1, 2]) expect(r.stdout).to.match(new RegExp(`^\\[rank ${rank}\\] rank ${rank}: 4 steps in`, 'm'));
    const ref = spawnSync(py!, [example, '--reference', '--steps', steps, '--out', out], { encoding: 'utf8' });
    expect(ref.status, ref.stderr).to.equal(0);
    const reference = JSON.parse(fs.readFileSync(path.join(out, 'reference.json'), 'utf8')) as Weights;
    let worst = 0;
    const seen = new Map<string, number>();
    for (const rank of [0, 1, 2]) {
      const got = JSON.parse(fs.readFileSync(path.join(out, `rank${rank}.json`), 'utf8')) as Weights;
      for (const [m, params] of Object.entries(got.modules)) {
        seen.set(m, (seen.get(m) ?? 0) + 1);
        for (const [name, values] of Object.entries(params)) {
          const want = reference.modules[m][name];
          expect(values.length, `${m}.${name}`).to.equal(want.length);
          values.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[i]))));
        }
      }
    }
    // Every module checked on both of its replicas (image and audio on ranks 0 and 2, head on 1 and 2).
    expect(Object.fromEntries(seen)).to.deep.equal({ image: 2, audio: 2, head: 2 });
    expect(worst, 'max |w - w_ref| over every replica').to.be.below(1e-9);
    // Training is not a no-op: the loss falls over the 4 steps.
    expect(reference.losses[0] - reference.losses[3]).to.be.greaterThan(0.01);
    return r.stdout;
  };

  it('trains the built-in model on 3 ranks with uneven replica shares; every replica ends with the single-process weights (gradients all-reduced in buckets during the last backward)', async () => {
    const c = launchContract(unevenBuiltinPlan());
    expect(c.worldSize).to.equal(3);
    expect(c.gradientBucketMiB).to.equal(25);
    expect(c.modules.map((m) => m.replicas.map((r) => r.samples))).to.deep.equal([[20, 12], [12, 20], [24, 8]]);
    // Buckets of about 1 KB: each module's few-KB gradients travel in several, as a large module's do in 25 MiB.
    const small = path.join(dir, 'plan-small-buckets.json');
    fs.writeFileSync(small, JSON.stringify(unevenBuiltinPlan(undefined, undefined, 0.001)));
    const stdout = await trainAndCompare(small, path.join(dir, 'out-overlap'), []);
    const lines = [...stdout.matchAll(/rank (\d): (\w+) gradients in (\d+) buckets, (\d+) launched during the backward/g)];
    // Every module on both of its ranks; more than one bucket each, and some launched before its backward returned.
    expect(lines.map((m) => m[2]).sort()).to.deep.equal(['audio', 'audio', 'head', 'head', 'image', 'image']);
    for (const m of lines) expect(Number(m[3]), m[0]).to.be.greaterThan(1);
    expect(lines.some((m) => Number(m[4]) > 0), stdout).to.equal(true);
  });

  it('the same training with one all-reduce per module after train_step (rt.allreduce_gradients)', async () => {
    const stdout = await trainAndCompare(plan, path.join(dir, 'out-after'), ['--sync', 'after']);
    expect(stdout).to.not.match(/launched during the backward/);
  });

  it('the torchrun command from mosaic export runs the same training: torchrun numbers ranks as the contract does', async function () {
    const torchrun = path.join(path.dirname(fs.realpathSync(spawnSync(py!, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim())), 'torchrun');
    if (!fs.existsSync(torchrun)) {
      console.warn(`\n  !!! SKIPPED: no torchrun next to ${py} !!!\n`);
      this.skip();
    }
    // Debian 12's torchrun (torch 1.13 on Python 3.11) fails before starting any process
    // ("'NoneType' object has no attribute 'get'" in elastic's to_map): skip where it cannot run `true`.
    const probe = spawnSync(torchrun, ['--nnodes=1', '--nproc_per_node=1', `--master_port=${await freePort()}`, '--no_python', 'true'], { encoding: 'utf8', timeout: 60_000 });
    if (probe.status !== 0) {
      console.warn(`\n  !!! SKIPPED: ${torchrun} cannot start a process here: ${probe.stderr.trim().split('\n').pop()} !!!\n`);
      this.skip();
    }
    const out = path.join(dir, 'torchrun');
    const example = path.join(ROOT, 'python/examples/train_builtin.py');
    const e = spawnSync(process.execPath, [CLI, 'export', plan, '--format', 'torchrun', '--quota-mode', 'none', '--contract', path.join(dir, 'launch.json'), '--master-port', String(await freePort()), '--', py!, example, '--steps', '3', '--out', out], { encoding: 'utf8', cwd: ROOT });
    expect(e.status, e.stderr).to.equal(0);
    const cmd = e.stdout.split('\n').find((l) => l.includes(' torchrun '))!.replace(' torchrun ', ` ${torchrun} `);
    const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8', cwd: ROOT, timeout: 120_000 });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(spawnSync(py!, [example, '--reference', '--steps', '3', '--out', out], { encoding: 'utf8' }).status).to.equal(0);
    const cmp = spawnSync(py!, [example, '--compare', '--out', out], { encoding: 'utf8' });
    expect(cmp.status, cmp.stdout + cmp.stderr).to.equal(0);
    expect(cmp.stdout).to.match(/over 6 module replicas \(rank0:image, rank0:audio, rank1:head, rank2:image, rank2:audio, rank2:head\)/);
  });

  it('SIGINT while the torch ranks train stops them all within 5 s; launch exits 130', async () => {
    const example = path.join(ROOT, 'python/examples/train_builtin.py');
    const child = spawn(process.execPath, [CLI, 'launch', plan, '--quota-mode', 'none', '--master-port', String(await freePort()), '--', py!, example, '--steps', '1000000', '--out', path.join(dir, 'sigint')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const done = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Every rank has joined the process group and started training (it prints after init).
    await new Promise<void>((resolve) => child.stdout!.on('data', (d) => {
      stdout += d;
      if ((stdout.match(/^\[rank \d\] rank \d\/3: modules/gm) ?? []).length === 3) resolve();
    }));
    const started = Date.now();
    child.kill('SIGINT');
    const code = await done;
    expect(code, stderr).to.equal(130);
    expect(Date.now() - started).to.be.below(5000);
    expect(stderr).to.include('SIGINT: stopped all 3 ranks');
  });

  it('a torch rank that exits 1 stops the others (waiting in the rendezvous); launch exits 1 naming it', async () => {
    const example = path.join(ROOT, 'python/examples/train_builtin.py');
    const r = spawnSync(process.execPath, [CLI, 'launch', plan, '--quota-mode', 'none', '--master-port', String(await freePort()), '--', py!, example, '--steps', '2', '--fail-rank', '1', '--out', path.join(dir, 'fail')], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).to.equal(1);
    expect(r.stdout).to.include('[rank 1] rank 1: failing on purpose');
    expect(r.stderr).to.include('mosaic: rank 1 (node 0, GPU 0, g0.s1 [head]) exited with code 1; stopped the other ranks');
    expect(fs.existsSync(path.join(dir, 'fail'))).to.equal(false);
  });
});
