import { expect } from 'chai';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildProgram } from '../src/cli/main';
import { helpExamples, jobArrayOf, jobArrayTasks, readmeShellBlocks, withoutComment } from './helpers/documented-commands';
import { ROOT } from './helpers/fixtures';
import { torchPython } from './helpers/launch-plans';

/**
 * Every command of the README's shell blocks and every `$ mosaic …` example of `--help`, run for real
 * on a fresh clone (the repository's tracked and unignored files, copied; then the README's own
 * `npm ci && npm start`). The README runs in order in the clone, as a newcomer would type it
 * (`npx mosaic …`); each command's `--help` examples run in order in a folder of their own, with
 * `mosaic` on the PATH (the README's other way to run it). Each must exit 0 and write the files it
 * names. What is not run as written is in the two tables below, each entry with its reason, and an
 * entry that no longer matches a command fails the test, so none goes stale.
 */

/** Commands not run here at all. */
const NOT_RUN: readonly { readonly pattern: RegExp; readonly why: string }[] = [
  { pattern: /^npm ci && npm test$/, why: "CI's own command, of which this test is a part" },
  { pattern: /^mosaic launch .*--quota-mode mps -- python train\.py/, why: "needs the MPS control daemon of a GPU machine, and runs the user's own train.py" },
  { pattern: /^sbatch /, why: 'submits to Slurm: test/launch-slurm.test.ts runs exported sbatch scripts under a real single-node Slurm' },
];

/** The bundled suite is 120 cases (about 11 minutes on 2 cores): the batch commands run on three. */
const SMALL_SUITE = { name: 'readme-run', timeLimitSeconds: 5, grid: { models: ['llava-1.5-7b', 'qwen-audio', 'sd-1.5'], clusters: ['h100-1x8'], methods: ['heuristic'] } };
const SWAPS: readonly { readonly from: string; readonly to: string; readonly why: string }[] = [
  { from: 'datasets/suites/bundled.json', to: 'readme-run-suite.json', why: 'the 120-case bundled suite takes ~11 min on 2 cores; the same commands run on a 3-case suite' },
];

type Outcome = { readonly where: string; readonly command: string; readonly status: number | null; readonly tail: string };

/** A copy of what a clone holds: the tracked files and the untracked ones git does not ignore. */
function freshClone(): string | undefined {
  const listed = spawnSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' });
  if (listed.status !== 0) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-clone-'));
  for (const f of listed.stdout.split('\0').filter(Boolean)) {
    if (!fs.existsSync(path.join(ROOT, f))) continue; // deleted in the work tree, not yet committed
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
    fs.chmodSync(path.join(dir, f), fs.statSync(path.join(ROOT, f)).mode);
  }
  return dir;
}

/** The environment of a fresh shell: no npm_* variables of the `npm test` that runs this. */
function shellEnv(extraPath: string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_') && k !== 'INIT_CWD' && k !== 'MOSAIC_TEST_TIER') env[k] = v;
  env.PATH = [...extraPath, process.env.PATH ?? '/usr/bin:/bin'].join(path.delimiter);
  return env;
}

function run(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out = (out + d.toString('utf8')).slice(-20_000)));
    child.stderr.on('data', (d: Buffer) => (out = (out + d.toString('utf8')).slice(-20_000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, out });
    });
  });
}

/** The files a command says it writes (`-o`, `--svg`, `--trace`, `--contract`, `--dump-lp`, `>`). */
function outputsOf(command: string): string[] {
  return [...withoutComment(command).matchAll(/(?:^|\s)(?:-o|--output|--svg|--trace|--contract|--dump-lp|>)\s+(\S+)/g)].map((m) => m[1]!);
}

/** `text` with every swap of the table applied; each swap that applies is marked used. */
function applySwaps(text: string, used: Set<string>): string {
  return SWAPS.reduce((t, w) => {
    if (!t.includes(w.from)) return t;
    used.add(w.from);
    return t.split(w.from).join(w.to);
  }, text);
}

/**
 * One documented line as the commands to run: `&&`-parts that a table keeps out are dropped, the
 * swaps applied, and a shard of a job array expanded to all its tasks (`jobArrayTasks`).
 */
function expand(line: string, used: Set<string>, notRun: string[]): string[] {
  const noComment = withoutComment(line).trim();
  const parts = noComment.split(/\s&&\s/).filter((part) => {
    const rule = NOT_RUN.find((r) => r.pattern.test(part.trim()) || r.pattern.test(noComment));
    if (!rule) return true;
    used.add(rule.pattern.source);
    notRun.push(`${part.trim()}  (${rule.why})`);
    return false;
  });
  return parts.length === 0 ? [] : jobArrayTasks(applySwaps(parts.join(' && '), used));
}

async function runAll(where: string, commands: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const command of commands) {
    const r = await run(command, cwd, env);
    const missing = r.status === 0 ? outputsOf(command).filter((f) => !fs.existsSync(path.join(cwd, f))) : [];
    outcomes.push({ where, command, status: missing.length > 0 ? -1 : r.status, tail: missing.length > 0 ? `did not write ${missing.join(', ')}` : r.out.trim().split('\n').slice(-4).join(' | ') });
  }
  return outcomes;
}

describe('README and --help, run for real on a fresh clone', function () {
  this.timeout(2_400_000);
  let clone: string | undefined;
  const scratch: string[] = [];
  after(() => {
    for (const d of [clone, ...scratch]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('every README command and every --help example exits 0 and writes what it names', async function () {
    clone = freshClone();
    if (!clone) {
      console.warn('\n  !!! SKIPPED: not a git checkout, so there is no clone to copy !!!\n');
      this.skip();
    }
    // python3 with torch for the launch examples: the PATH's, or Debian's /usr/bin/python3 put first.
    const py = torchPython();
    const shims = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-shims-'));
    scratch.push(shims);
    if (py && py !== 'python3') fs.symlinkSync(py, path.join(shims, 'python3'));
    const needsTorch = (c: string) => /\bpython3? /.test(c) && !/^npx mosaic export |^mosaic export /.test(c);
    const used = new Set<string>();
    const notRun: string[] = [];
    const skippedNoTorch: string[] = [];

    // The README in order, in the clone; its first block is the setup (`npm ci && npm start`).
    const readme: string[] = [];
    for (const block of readmeShellBlocks()) {
      const tasks = jobArrayOf(block);
      if (tasks) {
        // A Slurm job array: the script itself, once per array task, with the variables Slurm sets.
        const file = `readme-line-${block.line}.sbatch`;
        fs.writeFileSync(path.join(clone!, file), applySwaps(block.script, used));
        for (const id of tasks) readme.push(`SLURM_ARRAY_TASK_ID=${id} SLURM_ARRAY_TASK_COUNT=${tasks.length} SLURM_CPUS_PER_TASK=1 bash ${file}`);
        continue;
      }
      for (const line of block.lines) if (!line.trim().startsWith('#')) readme.push(...expand(line, used, notRun));
    }
    fs.writeFileSync(path.join(clone!, SMALL_SUITE.name + '-suite.json'), JSON.stringify(SMALL_SUITE));
    expect(readme[0]).to.equal('npm ci && npm start');

    // Each command's --help examples in a folder of their own that sees the clone's files.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-bin-'));
    scratch.push(bin);
    fs.symlinkSync(path.join(clone!, 'dist/src/cli/main.js'), path.join(bin, 'mosaic'));
    const helps: { name: string; dir: string; commands: string[] }[] = [];
    for (const h of await helpExamples(buildProgram().commands.map((c) => c.name()))) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mosaic-help-${h.name}-`));
      scratch.push(dir);
      for (const e of fs.readdirSync(clone!)) fs.symlinkSync(path.join(clone!, e), path.join(dir, e));
      fs.copyFileSync(path.join(clone!, SMALL_SUITE.name + '-suite.json'), path.join(dir, SMALL_SUITE.name + '-suite.json'));
      helps.push({ name: h.name, dir, commands: h.lines.flatMap((l) => expand(l, used, notRun)) });
    }
    const keepTorch = (cs: string[]) => cs.filter((c) => py || !needsTorch(c) || (skippedNoTorch.push(c), false));

    // The README first alone (its npm ci builds what the --help examples run), then both streams at once.
    const setup = await runAll('README', [readme[0]!], clone!, shellEnv([shims]));
    expect(setup[0]!.status, `npm ci && npm start: ${setup[0]!.tail}`).to.equal(0);
    const [readmeOutcomes, helpOutcomes] = await Promise.all([
      runAll('README', keepTorch(readme.slice(1)), clone!, shellEnv([shims])),
      (async () => {
        const all: Outcome[] = [];
        for (const h of helps) all.push(...(await runAll(`mosaic ${h.name} --help`, keepTorch(h.commands), h.dir, shellEnv([bin, shims]))));
        return all;
      })(),
    ]);
    const outcomes = [...setup, ...readmeOutcomes, ...helpOutcomes];
    console.log(`      ran ${outcomes.length} commands (README ${setup.length + readmeOutcomes.length}, --help ${helpOutcomes.length}); not run: ${notRun.length}${notRun.map((n) => `\n        ${n}`).join('')}`);
    if (skippedNoTorch.length > 0) console.warn(`\n  !!! NOT RUN: no python3 with torch here: ${skippedNoTorch.join(' ; ')} !!!\n`);

    expect(readmeOutcomes.length, 'README commands run').to.be.greaterThan(15);
    expect(helpOutcomes.length, '--help examples run').to.be.greaterThan(25);
    expect(outcomes.filter((o) => o.status !== 0).map((o) => `${o.where}: ${o.command} -> exit ${o.status}: ${o.tail}`)).to.deep.equal([]);
    // Every exception still matches something: a table entry for a command that is gone is stale.
    expect([...NOT_RUN.map((r) => r.pattern.source), ...SWAPS.map((s) => s.from)].filter((k) => !used.has(k)), 'stale exceptions').to.deep.equal([]);
  });
});
