import { Command } from 'commander';
import { mergeDirs } from '../batch/merge';
import { checkOutputDir } from '../io/output-path';
import { runCommand } from './run-command';

type MergeFlags = { output: string; json?: boolean };

export function mergeCommand(): Command {
  return new Command('merge')
    .description('Combine the output directories of `mosaic batch --shard i/n` runs into one results.jsonl and report')
    .argument('<dir...>', 'output directories of mosaic batch (one per shard)')
    .requiredOption('-o, --output <dir>', 'merged output directory: batch.json, results.jsonl, summary.csv, report.html')
    .option('--json', 'print a machine-readable summary instead of text')
    .addHelpText(
      'after',
      `
Example (after the 4 shards of a batch, e.g. the tasks of a Slurm job array):
  $ mosaic batch datasets/suites/bundled.json -o out/shard-1 --shard 1/4   # ... to out/shard-4 --shard 4/4
  $ mosaic merge out/shard-1 out/shard-2 out/shard-3 out/shard-4 -o out/all

Every directory must come from the same manifest; every case must have exactly one result among them.
Exit codes: 0 ok, 1 internal error, 2 different manifests, a case missing or in two directories.`,
    )
    .action(async (dirs: string[], flags: MergeFlags) => {
      await runCommand(() => {
        checkOutputDir(flags.output, '-o');
        const s = mergeDirs(dirs, flags.output);
        if (flags.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
        else {
          process.stdout.write(`merged ${dirs.length} director${dirs.length === 1 ? 'y' : 'ies'}: ${s.total} cases (${s.ok} ok, ${s.failed} failed)\n`);
          for (const f of s.files) process.stdout.write(`  ${f}\n`);
        }
      }, flags.json);
    });
}
