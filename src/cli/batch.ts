import { Command } from 'commander';
import { EXIT } from '../errors';
import { parseShard, type Shard } from '../batch/manifest';
import { defaultWorkers, runBatch, type BatchControl, type BatchSummary } from '../batch/runner';
import { shardText } from '../batch/store';
import { checkOutputDir } from '../io/output-path';
import { positiveInteger } from './options';
import { runCommand } from './run-command';

type BatchFlags = { output: string; workers?: number; force?: boolean; shard?: Shard; json?: boolean };

/** Exit statuses after a signal, as a shell reports them. */
const SIGNAL_EXIT = { interrupt: EXIT.interrupted, terminate: EXIT.terminated } as const;

function printSummary(s: BatchSummary): void {
  const out = (line: string) => process.stdout.write(line + '\n');
  const scope = s.shard ? `shard ${shardText(s.shard)}: ` : '';
  if (s.stoppedBy) out(`batch stopped (${s.stoppedBy === 'interrupt' ? 'SIGINT' : 'SIGTERM'}): ${scope}${s.total - s.remaining}/${s.total} cases done, ${s.remaining} left${s.abandoned > 0 ? ` (${s.abandoned} running case(s) abandoned, not recorded)` : ''}; rerun the same command to resume`);
  else out(`batch: ${scope}${s.total} cases done (${s.ok} ok, ${s.failed} failed; ${s.ran} run now, ${s.skipped} already done) in ${(s.wallMs / 1000).toFixed(1)} s on ${s.workers} worker(s)`);
  for (const f of s.files) out(`  ${f}`);
}

export function batchCommand(): Command {
  return new Command('batch')
    .description('Plan many cases offline from a manifest: worker threads, progress, resumable, shardable (see `mosaic merge`)')
    .argument('<manifest>', 'batch manifest (schemas/batch-manifest.schema.json), e.g. datasets/suites/bundled.json')
    .requiredOption('-o, --output <dir>', 'output directory: batch.json, results.jsonl, summary.csv, report.html')
    .option('--workers <n>', `worker threads (default: the number of cores, ${defaultWorkers()} here)`, positiveInteger('--workers', 1024))
    .option('--force', 'reuse a directory made for a different manifest or shard (keeps the results of cases still in it)')
    .option('--shard <i/n>', 'run only shard i of n (1 ≤ i ≤ n), chosen by case-id hash; combine with `mosaic merge`', parseShard)
    .option('--json', 'print a machine-readable summary instead of text')
    .addHelpText(
      'after',
      `
Examples:
  $ mosaic batch datasets/suites/bundled.json -o out/bundled
  $ mosaic batch datasets/suites/bundled.json -o out/s3 --shard 3/8 --workers 4    # one task of a job array
  $ mosaic merge out/s1 out/s2 out/s3 out/s4 out/s5 out/s6 out/s7 out/s8 -o out/all   # once all 8 have run

Rerunning the same command resumes: finished cases are skipped; a batch killed at any moment loses only
the cases that were running. A case that fails (invalid spec, infeasible, solver error, time limit) is
recorded with its reason and error code, and the batch goes on.
Exit codes: 0 every case recorded (failed cases included), 1 internal error, 2 usage or invalid manifest
(also: the directory holds another manifest's results, without --force), ${EXIT.interrupted} stopped by SIGINT,
${EXIT.terminated} stopped by SIGTERM.`,
    )
    .action(async (manifest: string, flags: BatchFlags) => {
      await runCommand(async () => {
        checkOutputDir(flags.output, '-o');
        let control: BatchControl | undefined;
        let interrupts = 0;
        const onInt = () => {
          interrupts++;
          if (interrupts === 1) process.stderr.write('\nmosaic batch: SIGINT: no new cases; letting running cases finish (Ctrl-C again abandons them)\n');
          control?.stop(interrupts === 1 ? 'finish' : 'abandon', 'interrupt');
        };
        const onTerm = () => control?.stop('abandon', 'terminate');
        process.on('SIGINT', onInt);
        process.on('SIGTERM', onTerm);
        try {
          const summary = await runBatch(
            { manifest, outDir: flags.output, ...(flags.workers ? { workers: flags.workers } : {}), force: flags.force ?? false, shard: flags.shard ?? null, progress: process.stderr },
            (c) => {
              control = c;
              if (interrupts > 0) c.stop(interrupts === 1 ? 'finish' : 'abandon', 'interrupt');
            },
          );
          if (flags.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
          else printSummary(summary);
          if (summary.stoppedBy) process.exitCode = SIGNAL_EXIT[summary.stoppedBy];
        } finally {
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
        }
      }, flags.json);
    });
}
