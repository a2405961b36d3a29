import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkContract, launchContract } from '../src/launch/contract';
import { CLI, ROOT } from './helpers/fixtures';
import { CPU_TWO_NODES, GPU_PAIR, unevenBuiltinPlan } from './helpers/launch-plans';

const run = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT, env });
/** Running (a zombie left to an init that does not reap counts as stopped). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** Starts `mosaic launch` and resolves each awaited stdout line as it arrives (no sleeps). */
function startLaunch(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'launch', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; n: number; resolve: (m: string[]) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const got = stdout.split('\n').filter((l) => w.re.test(l));
      if (got.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(got);
      }
    }
  };
  child.stdout!.on('data', (d) => ((stdout += d), check()));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done, lines: (re: RegExp, n: number) => new Promise<string[]>((resolve) => (waiters.push({ re, n, resolve }), check())) };
}

describe('mosaic export and mosaic launch', function () {
  this.timeout(60_000);
  let dir: string;
  let cpuPlan: string;
  let gpuPlan: string;
  let twoNodes: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-launch-test-'));
    cpuPlan = path.join(dir, 'cpu.json');
    gpuPlan = path.join(dir, 'gpu.json');
    twoNodes = path.join(dir, 'two-nodes.json');
    fs.writeFileSync(cpuPlan, JSON.stringify(unevenBuiltinPlan()));
    fs.writeFileSync(gpuPlan, JSON.stringify(unevenBuiltinPlan(GPU_PAIR, [24, 16])));
    fs.writeFileSync(twoNodes, JSON.stringify(unevenBuiltinPlan(CPU_TWO_NODES)));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('export', () => {
    it('--format json is the launch contract, valid against its schema', () => {
      const r = run(['export', gpuPlan, '--format', 'json', '--quota-mode', 'mps']);
      expect(r.status, r.stderr).to.equal(0);
      const c = JSON.parse(r.stdout);
      expect(checkContract(c, 'stdout')).to.deep.equal([]);
      expect(c).to.deep.equal(JSON.parse(JSON.stringify(launchContract(unevenBuiltinPlan(GPU_PAIR, [24, 16]), { processPer: 'slot' }))));
    });

    it('env: a block per rank that a shell can source, with the MPS percentage of its slot', () => {
      const contract = path.join(dir, 'launch.json');
      const r = run(['export', gpuPlan, '--quota-mode', 'mps', '--contract', contract, '--rank', '1']);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout.split('\n').filter((l) => l.startsWith('export '))).to.deep.equal([
        'export CUDA_VISIBLE_DEVICES=0',
        'export RANK=1',
        'export LOCAL_RANK=1',
        'export WORLD_SIZE=3',
        'export LOCAL_WORLD_SIZE=3',
        'export GROUP_RANK=0',
        'export MASTER_ADDR=127.0.0.1',
        'export MASTER_PORT=29500',
        `export MOSAIC_LAUNCH=${contract}`,
        'export MOSAIC_QUOTA_MODE=mps',
        'export CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=40',
      ]);
      expect(checkContract(JSON.parse(fs.readFileSync(contract, 'utf8')), contract)).to.deep.equal([]);
      // Inline contract (no --contract): quoted so that the shell gives the program the exact JSON back.
      const all = run(['export', cpuPlan, '--quota-mode', 'none']);
      const file = path.join(dir, 'env.sh');
      fs.writeFileSync(file, all.stdout);
      const sourced = spawnSync('sh', ['-c', `. ${file}; printf %s "$MOSAIC_LAUNCH"`], { encoding: 'utf8' });
      expect(JSON.parse(sourced.stdout)).to.deep.equal(JSON.parse(JSON.stringify(launchContract(unevenBuiltinPlan()))));
      const j = JSON.parse(run(['export', cpuPlan, '--quota-mode', 'none', '--json']).stdout);
      expect(j.ranks.map((x: { env: Record<string, string> }) => [x.env.RANK, x.env.LOCAL_RANK, x.env.CUDA_VISIBLE_DEVICES])).to.deep.equal([['0', '0', undefined], ['1', '1', undefined], ['2', '2', undefined]]);
    });

    it('torchrun: one command per node, the script and its arguments after torchrun options', () => {
      const r = run(['export', twoNodes, '--format', 'torchrun', '--quota-mode', 'none', '--contract', path.join(dir, 'c.json'), '--master-addr', 'n0', '--', 'python3', 'train.py', '--steps', '3']);
      expect(r.status, r.stderr).to.equal(0);
      const cmds = r.stdout.split('\n').filter((l) => l.includes('torchrun'));
      expect(cmds).to.have.length(2);
      expect(cmds[0]).to.match(/torchrun --nnodes=2 --node_rank=0 --nproc_per_node=2 --master_addr=n0 --master_port=29500 train\.py --steps 3$/);
      expect(cmds[1]).to.match(/--node_rank=1 --nproc_per_node=1 /);
      const shellCmd = run(['export', cpuPlan, '--format', 'torchrun', '--', 'sh', '-c', 'echo $RANK']);
      expect(shellCmd.stdout).to.match(/--no_python sh -c 'echo \$RANK'/);
    });

    it('slurm: a heterogeneous job where nodes run different rank counts, one launcher per node; valid bash', () => {
      const het = run(['export', twoNodes, '--format', 'slurm', '--quota-mode', 'none', '--', 'python3', 'train.py']);
      expect(het.status, het.stderr).to.equal(0);
      expect(het.stdout.match(/^#SBATCH hetjob$/gm)).to.have.length(1);
      expect(het.stdout.match(/^#SBATCH --cpus-per-task=(\d)$/gm)).to.deep.equal(['#SBATCH --cpus-per-task=2', '#SBATCH --cpus-per-task=1']);
      expect(het.stdout).to.match(/^srun --het-group=0-1 --ntasks-per-node=1 --kill-on-bad-exit=1 npx mosaic launch \S+two-nodes\.json --quota-mode=none --process-per=slot .* -- python3 train\.py$/m);
      const file = path.join(dir, 'job.sbatch');
      fs.writeFileSync(file, het.stdout);
      expect(spawnSync('bash', ['-n', file]).status).to.equal(0);
      const homo = run(['export', gpuPlan, '--format', 'slurm', '--', 'python3', 'train.py']);
      expect(homo.stdout).not.to.include('hetjob');
      expect(homo.stdout).to.include('#SBATCH --gpus-per-node=2');
    });

    it('errors: one line naming the file or flag, exit 2, no stack trace', () => {
      const cases: [string[], string][] = [
        [['export', path.join(dir, 'nope.json')], `${path.join(dir, 'nope.json')}: cannot read: no such file`],
        [['export', cpuPlan, '--format', 'xml'], '--format must be one of env, torchrun, slurm, json but received "xml"'],
        [['export', cpuPlan, '--rank', '2'], `${cpuPlan}: --rank 2 but the plan has 2 ranks (0-1)`], // green: one process per GPU
        [['export', gpuPlan, '--quota-mode', 'mps', '--process-per', 'gpu'], `${gpuPlan}: --quota-mode mps needs one process per slot`],
      ];
      for (const [args, message] of cases) {
        const r = run(args);
        expect(r.status, args.join(' ')).to.equal(2);
        expect(r.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
        expect(r.stderr).to.include(message);
      }
      const broken = JSON.parse(fs.readFileSync(cpuPlan, 'utf8'));
      broken.replicas[0].samples = 7;
      const file = path.join(dir, 'broken.json');
      fs.writeFileSync(file, JSON.stringify(broken));
      const r = run(['export', file]);
      expect(r.status).to.equal(2);
      expect(r.stderr).to.include(`${file}: replica image#0: 7 samples`);
    });
  });

  describe('launch', () => {
    it("spawns the node's ranks with their environment and prefixes their lines with the rank", () => {
      const r = run(['launch', cpuPlan, '--quota-mode', 'none', '--', process.execPath, '-e',
        "const c = JSON.parse(require('fs').readFileSync(process.env.MOSAIC_LAUNCH, 'utf8')); const me = c.ranks[+process.env.RANK]; console.log(['r', process.env.RANK, process.env.LOCAL_RANK, process.env.WORLD_SIZE, process.env.MASTER_PORT, me.slots.map(s => s.id).join('+')].join(' ')); console.error('to stderr'); process.stdout.write('no newline')"]);
      expect(r.status, r.stderr).to.equal(0);
      const lines = r.stdout.split('\n').filter((l) => l.includes(' r ')).sort();
      expect(lines).to.deep.equal(['[rank 0] r 0 0 3 29500 g0.s0', '[rank 1] r 1 1 3 29500 g0.s1', '[rank 2] r 2 2 3 29500 g1.s0']);
      expect(r.stdout.split('\n').filter((l) => l.endsWith('no newline')).sort()).to.deep.equal(['[rank 0] no newline', '[rank 1] no newline', '[rank 2] no newline']);
      expect(r.stderr.split('\n').filter((l) => l.endsWith('to stderr'))).to.have.length(3);
    });

    it('a rank that exits 1 stops every other rank; launch exits 1 and names it', async () => {
      const pids = path.join(dir, 'pids');
      fs.mkdirSync(pids);
      // Ranks 0 and 2 write their pid and wait forever; rank 1 fails once both are up (driven by their files).
      const script = `const fs = require('fs'); const d = ${JSON.stringify(pids)};
        if (process.env.RANK !== '1') { fs.writeFileSync(d + '/' + process.env.RANK, String(process.pid)); setInterval(() => {}, 1000); }
        else { const t = setInterval(() => { if (fs.readdirSync(d).length === 2) { console.log('failing'); process.exit(1); } }, 20); }`;
      const l = startLaunch([cpuPlan, '--quota-mode', 'none', '--', process.execPath, '-e', script]);
      const { code, stdout, stderr } = await l.done;
      expect(code, stderr).to.equal(1);
      expect(stdout).to.include('[rank 1] failing');
      expect(stderr).to.match(/mosaic: rank 1 \(node 0, GPU 0, g0\.s1 \[head\]\) exited with code 1; stopped the other ranks/);
      for (const f of fs.readdirSync(pids)) expect(alive(Number(fs.readFileSync(path.join(pids, f), 'utf8'))), `rank ${f}`).to.equal(false);
    });

    it('SIGINT stops every rank within 5 s (SIGKILL for one that ignores it) and exits 130', async () => {
      // Rank 2 ignores SIGINT and SIGTERM, and runs a grandchild (sleep) in its process group.
      const script = `if [ "$RANK" = 2 ]; then trap '' INT TERM; fi; sleep 1000 & echo "ready $$ $!"; wait; wait`;
      const l = startLaunch([cpuPlan, '--quota-mode', 'none', '--', 'sh', '-c', script]);
      const ready = await l.lines(/\] ready \d+ \d+$/, 3);
      const started = Date.now();
      l.child.kill('SIGINT');
      const { code, stderr } = await l.done;
      const ms = Date.now() - started;
      expect(code, stderr).to.equal(130);
      expect(ms).to.be.below(5000);
      expect(stderr).to.include('SIGINT: stopped all 3 ranks');
      for (const line of ready) for (const pid of line.split(' ').slice(-2).map(Number)) expect(alive(pid), line).to.equal(false);
    });

    it('a rank that exits 0 but leaves a background child holding its output does not hang the launcher', () => {
      const r = run(['launch', cpuPlan, '--quota-mode', 'none', '--', 'sh', '-c', 'sleep 300 & echo "child $!"']);
      expect(r.status, r.stderr).to.equal(0);
      const pids = r.stdout.trim().split('\n').map((l) => Number(l.split(' ').pop()));
      expect(pids).to.have.length(3);
      for (const pid of pids) expect(alive(pid), `sleep ${pid}`).to.equal(false);
    });

    it('MPS mode starts and stops the control daemon around the ranks; refuses in one line where it is missing', () => {
      const bin = path.join(dir, 'bin');
      fs.mkdirSync(bin);
      const log = path.join(dir, 'mps.log');
      fs.writeFileSync(path.join(bin, 'nvidia-cuda-mps-control'), `#!/bin/sh\nif [ "$1" = -d ]; then echo "start $CUDA_MPS_PIPE_DIRECTORY" >> ${log}; else read cmd; echo "$cmd $CUDA_MPS_PIPE_DIRECTORY" >> ${log}; fi\n`, { mode: 0o755 });
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
      const r = run(['launch', gpuPlan, '--quota-mode', 'mps', '--', 'sh', '-c', 'echo "$CUDA_VISIBLE_DEVICES $CUDA_MPS_ACTIVE_THREAD_PERCENTAGE $CUDA_MPS_PIPE_DIRECTORY"; echo "rank $RANK" >> ' + log], env);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout.split('\n').filter(Boolean).map((l) => l.split(' ').slice(0, 4).join(' ')).sort()).to.deep.equal(['[rank 0] 0 60', '[rank 1] 0 40', '[rank 2] 1 100']);
      const events = fs.readFileSync(log, 'utf8').trim().split('\n');
      const pipe = events[0].split(' ')[1];
      expect(events[0]).to.equal(`start ${pipe}`);
      expect(events.slice(1, 4).sort()).to.deep.equal(['rank 0', 'rank 1', 'rank 2']);
      expect(events[4]).to.equal(`quit ${pipe}`);
      expect(r.stdout).to.include(pipe);
      const missing = run(['launch', gpuPlan, '--quota-mode', 'mps', '--', 'true'], { ...process.env, PATH: '/nonexistent' });
      expect(missing.status).to.equal(2);
      expect(missing.stderr.trim().split('\n')).to.deep.equal(["mosaic: --quota-mode mps needs NVIDIA's MPS control daemon (nvidia-cuda-mps-control), which is not on PATH; install the CUDA driver utilities or use --quota-mode green or none"]);
    });

    it("under srun one launcher per node takes its node from Slurm's variables", () => {
      const cmd = ['--quota-mode', 'none', '--', 'sh', '-c', 'echo "$RANK $LOCAL_RANK $WORLD_SIZE"'];
      const procid = run(['launch', twoNodes, ...cmd], { ...process.env, SLURM_PROCID: '1', SLURM_NTASKS: '2', SLURM_NODEID: '1' });
      expect(procid.status, procid.stderr).to.equal(0);
      expect(procid.stdout.trim()).to.equal('[rank 2] 2 0 3');
      expect(procid.stderr).to.include('node 1 (SLURM_PROCID=1)');
      const node0 = run(['launch', twoNodes, ...cmd], { ...process.env, SLURM_NODEID: '0' });
      expect(node0.stdout.trim().split('\n').sort()).to.deep.equal(['[rank 0] 0 0 3', '[rank 1] 1 1 3']);
      const flag = run(['launch', twoNodes, '--node-rank', '1', ...cmd]);
      expect(flag.stdout.trim()).to.equal('[rank 2] 2 0 3');
    });
  });
});
