/**
 * The fuzzer's worker thread: runs one case at a time in process (the CLI's own `runCli`, or the
 * manifest parser) and reports its exit status, output, warnings and the validator's verdict on every
 * plan it printed or wrote. The parent terminates it when a case overruns its budget (a hang).
 */
import * as fs from 'fs';
import { parentPort } from 'worker_threads';
import { MosaicError } from '../../src/errors';
import { parseManifest } from '../../src/batch/manifest';
import { validatePlan } from '../../src/plan/validate';
import type { Plan } from '../../src/spec/plan';
import { runCliInProcess } from './run-cli';

export type FuzzJob =
  | { readonly id: number; readonly kind: 'cli'; readonly args: readonly string[]; readonly planFiles: readonly string[]; readonly stdoutPlan: 'best' | 'whole' | null }
  | { readonly id: number; readonly kind: 'manifest'; readonly text: string; readonly file: string };

export type FuzzReply = {
  readonly id: number;
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly warnings: readonly string[];
  /** Validator problems of plans printed (--json) or written (-o) by a case that exited 0. */
  readonly planProblems: readonly string[];
  readonly plansChecked: number;
  readonly extra?: unknown;
};

const warnings: string[] = [];
process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`));

function checkPlan(plan: unknown, where: string, problems: string[]): void {
  if (!plan || typeof plan !== 'object' || !Array.isArray((plan as Plan).gpus)) {
    problems.push(`${where}: not a plan`);
    return;
  }
  for (const p of validatePlan(plan as Plan)) problems.push(`${where}: ${p}`);
}

async function runJob(job: FuzzJob): Promise<FuzzReply> {
  warnings.length = 0;
  if (job.kind === 'manifest') {
    fs.writeFileSync(job.file, job.text);
    try {
      const m = parseManifest(JSON.parse(job.text), job.file);
      return { id: job.id, status: 0, stdout: '', stderr: '', warnings: [...warnings], planProblems: [], plansChecked: 0, extra: { ids: m.cases.map((c) => c.id), hash: m.hash } };
    } catch (err) {
      if (err instanceof SyntaxError) return { id: job.id, status: 2, stdout: '', stderr: 'malformed', warnings: [], planProblems: [], plansChecked: 0 };
      if (err instanceof MosaicError) return { id: job.id, status: err.exitCode, stdout: '', stderr: err.lines.map((l) => `mosaic: ${l}\n`).join(''), warnings: [...warnings], planProblems: [], plansChecked: 0 };
      return { id: job.id, status: 1, stdout: '', stderr: `internal error: ${(err as Error)?.stack ?? String(err)}`, warnings: [...warnings], planProblems: [], plansChecked: 0 };
    }
  }
  const isFile = (f: string) => {
    try {
      return fs.statSync(f).isFile();
    } catch {
      return false; // missing, or a path through a file (ENOTDIR)
    }
  };
  // A plan file counts only when this case wrote it: remove what an earlier case left under that name.
  for (const f of job.planFiles) if (isFile(f)) fs.rmSync(f);
  const r = await runCliInProcess(job.args);
  const problems: string[] = [];
  let checked = 0;
  if (r.status === 0) {
    if (job.stdoutPlan) {
      try {
        const out = JSON.parse(r.stdout) as { best?: unknown };
        checkPlan(job.stdoutPlan === 'best' ? out.best : out, 'stdout', problems);
        checked++;
      } catch {
        problems.push('stdout: --json printed no JSON');
      }
    }
    for (const f of job.planFiles) {
      if (!isFile(f)) continue;
      try {
        checkPlan(JSON.parse(fs.readFileSync(f, 'utf8')), f, problems);
      } catch {
        problems.push(`${f}: written plan is not JSON`);
      }
      checked++;
    }
  }
  return { id: job.id, status: r.status, stdout: r.stdout, stderr: r.stderr, warnings: [...warnings], planProblems: problems, plansChecked: checked };
}

parentPort!.on('message', (job: FuzzJob) => {
  void runJob(job).then(
    (reply) => parentPort!.postMessage(reply),
    (err) => parentPort!.postMessage({ id: job.id, status: 1, stdout: '', stderr: `fuzz worker: ${(err as Error)?.stack ?? String(err)}`, warnings: [], planProblems: [], plansChecked: 0 }),
  );
});
