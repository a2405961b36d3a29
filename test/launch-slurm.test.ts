import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLI, ROOT } from './helpers/fixtures';
import { torchPython, unevenBuiltinPlan } from './helpers/launch-plans';

const HELPER = path.join(ROOT, 'test/helpers/slurm-single-node.sh');

describe('real Slurm (single node, slurm-wlm + munge started by test/helpers/slurm-single-node.sh)', function () {
  this.timeout(300_000);
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let plan: string;
  before(function () {
    if (spawnSync('sh', ['-c', 'command -v slurmctld && command -v slurmd && command -v munged'], { encoding: 'utf8' }).status !== 0) {
      console.warn('\n  !!! SKIPPED: no Slurm here (apt-get install -y slurm-wlm munge) !!!\n');
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-slurm-'));
    const started = spawnSync('bash', [HELPER, 'start', path.join(dir, 'slurm')], { encoding: 'utf8', timeout: 60_000 });
    if (started.status !== 0) {
      // Installed but unable to run its daemons here (a container without the privileges slurmd needs):
      // an environment problem, said loudly, not a failure of Mosaic.
      console.warn(`\n  !!! SKIPPED: single-node Slurm did not start here: ${(started.stderr || started.stdout || String(started.error)).trim().split('\n').slice(-3).join(' | ')} !!!\n`);
      this.skip();
    }
    env = { ...process.env, SLURM_CONF: started.stdout.trim() };
    plan = path.join(dir, 'plan.json');
    fs.writeFileSync(plan, JSON.stringify(unevenBuiltinPlan()));
  });
  after(() => {
    if (!dir) return;
    spawnSync('bash', [HELPER, 'stop', path.join(dir, 'slurm')]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('mosaic launch under srun takes its node from Slurm and runs that node\'s ranks', () => {
    const r = spawnSync('srun', ['-N1', '-n1', process.execPath, CLI, 'launch', plan, '--quota-mode', 'none', '--', 'sh', '-c', 'echo "$RANK $LOCAL_RANK $WORLD_SIZE"'], { encoding: 'utf8', env, timeout: 120_000 });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.include('node 0 (SLURM_PROCID=0): ranks 0-2 of 3');
    expect(r.stdout.trim().split('\n').sort()).to.deep.equal(['[rank 0] 0 0 3', '[rank 1] 1 1 3', '[rank 2] 2 2 3']);
  });

  it("the README's job array for `mosaic batch --shard` runs under sbatch; the merged shards equal a local run", () => {
    // The script exactly as the README has it; sbatch's command-line options size it for this node
    // (2 array tasks of 1 CPU, logs in a folder that exists), and the manifest and output paths point here.
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const block = readme.split('```sh\n').map((b) => b.split('```')[0]).find((b) => b.includes('#SBATCH --array'));
    expect(block, 'the README job-array script').to.be.a('string');
    const manifest = path.join(dir, 'suite.json');
    fs.writeFileSync(manifest, JSON.stringify({ name: 'slurm-test', timeLimitSeconds: 5, grid: { models: ['llava-1.5-7b', 'qwen-audio', 'sd-1.5'], clusters: ['h100-1x8'], methods: ['heuristic'] } }));
    const out = path.join(dir, 'batch');
    const script = path.join(dir, 'array.sbatch');
    // The script's manifest (whatever the README names) becomes this small one.
    fs.writeFileSync(script, block!.replace(/npx mosaic batch \S+/, `npx mosaic batch ${manifest}`).replace(/out\/shard-/g, `${out}/shard-`));
    fs.mkdirSync(path.join(dir, 'logs'));
    const r = spawnSync('sbatch', ['--wait', '--array=1-2', '--cpus-per-task=1', `--output=${dir}/logs/batch-%A_%a.out`, '-D', ROOT, script], { encoding: 'utf8', env, timeout: 240_000 });
    const logs = fs.readdirSync(path.join(dir, 'logs')).map((f) => fs.readFileSync(path.join(dir, 'logs', f), 'utf8')).join('\n');
    expect(r.status, r.stderr + logs).to.equal(0);
    const merged = spawnSync(process.execPath, [CLI, 'merge', `${out}/shard-1`, `${out}/shard-2`, '-o', `${out}/all`], { encoding: 'utf8', cwd: ROOT });
    expect(merged.status, merged.stderr).to.equal(0);
    const local = spawnSync(process.execPath, [CLI, 'batch', manifest, '-o', `${out}/local`, '--workers', '1'], { encoding: 'utf8', cwd: ROOT });
    expect(local.status, local.stderr).to.equal(0);
    type Line = { id: string; status: string; summary?: { best: unknown; baselines: unknown } };
    const read = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line).map((l) => [l.id, l.status, l.summary?.best, l.summary?.baselines]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    const got = read(`${out}/all/results.jsonl`);
    expect(got).to.have.length(3);
    expect(got).to.deep.equal(read(`${out}/local/results.jsonl`));
  });

  it('the sbatch script of mosaic export trains the built-in model; the weights equal a local single-process run', function () {
    const py = torchPython();
    if (!py) {
      console.warn('\n  !!! SKIPPED: no python3 with torch here !!!\n');
      this.skip();
    }
    const example = path.join(ROOT, 'python/examples/train_builtin.py');
    const out = path.join(dir, 'train');
    const port = String(29000 + Math.floor(Math.random() * 1000));
    const e = spawnSync(process.execPath, [CLI, 'export', plan, '--format', 'slurm', '--quota-mode', 'none', '--master-port', port, '--cpus-per-node', '1', '--job-name', 'mosaic-test', '--mosaic', `${process.execPath} ${CLI}`, '--', py!, example, '--steps', '3', '--out', out], { encoding: 'utf8', cwd: ROOT });
    expect(e.status, e.stderr).to.equal(0);
    const script = path.join(dir, 'job.sbatch');
    fs.writeFileSync(script, e.stdout);
    const r = spawnSync('sbatch', ['--wait', '--parsable', '-D', dir, script], { encoding: 'utf8', env, timeout: 240_000 });
    const jobId = r.stdout.trim().split(';')[0];
    const log = path.join(dir, `mosaic-${jobId}.out`);
    const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '(no log)';
    expect(r.status, r.stderr + text).to.equal(0);
    for (const rank of [0, 1, 2]) expect(text).to.match(new RegExp(`^\\[rank ${rank}\\] rank ${rank}: 3 steps in`, 'm'));
    expect(spawnSync(py!, [example, '--reference', '--steps', '3', '--out', out], { encoding: 'utf8' }).status).to.equal(0);
    const cmp = spawnSync(py!, [example, '--compare', '--out', out], { encoding: 'utf8' });
    expect(cmp.status, cmp.stdout + cmp.stderr).to.equal(0);
    expect(cmp.stdout).to.include('over 6 module replicas');
  });
});
