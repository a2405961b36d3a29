import { Command } from 'commander';
import { EXIT, MosaicError } from '../errors';
import { writeFileAtomic } from '../io/atomic-write';
import { checkOutputFile } from '../io/output-path';
import { DEFAULT_PROFILE_OPTIONS, profileModel, PROFILE_STATISTICS, ProfileCancelled, type EngineProfile, type ProfileDevice, type ProfileProgress, type ProfileStatistic } from '../engine/profile';
import { bundledNames, resolveModel } from '../spec/resolve';
import { oneOf, positiveInteger } from './options';
import { runCommand } from './run-command';

type ProfileFlags = {
  device: ProfileDevice;
  model: string;
  scale?: number;
  micro?: number;
  levels?: number[];
  repeats: number;
  statistic: ProfileStatistic;
  warmup: number;
  pairs: boolean;
  seed: number;
  output?: string;
  json?: boolean;
};

/** `1,2,4` → [1, 2, 4] (core counts). */
function coreList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const out = parts.map(Number);
  if (parts.length === 0 || out.some((n, i) => parts[i] === '' || !Number.isInteger(n) || n < 1)) {
    throw new MosaicError('E_USAGE', `--levels expects a comma-separated list of core counts such as 1,2 but received "${value}"`);
  }
  return out;
}

function fraction(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0 && n <= 1)) throw new MosaicError('E_USAGE', `${flag} expects a number in (0, 1] but received "${value}"`);
    return n;
  };
}

function nonNegativeInteger(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new MosaicError('E_USAGE', `${flag} expects an integer >= 0 but received "${value}"`);
    return n;
  };
}

/** A progress bar on a terminal (redrawn in place on stderr), plain lines otherwise. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): { update: (p: ProfileProgress) => void; end: () => void } {
  const tty = Boolean(stream.isTTY);
  let drawn = false;
  return {
    update: (p) => {
      if (!tty) {
        stream.write(`profile ${p.done}/${p.total}: ${p.label}\n`);
        return;
      }
      const width = 24;
      const filled = Math.round((width * p.done) / p.total);
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total} ${p.label}`;
      const columns = stream.columns && stream.columns > 20 ? stream.columns : 80;
      stream.write(`\r${line.slice(0, columns - 1).padEnd(columns - 1)}`);
      drawn = true;
    },
    end: () => {
      if (tty && drawn) stream.write('\n');
    },
  };
}

function printText(profile: EngineProfile, output: string | undefined): void {
  const out = (s = '') => process.stdout.write(s + '\n');
  const m = profile.measurement;
  out(`Profile of ${profile.model} on ${profile.device}${m ? ` (scale ${m.scale}, ${m.statistic} of ${m.repeats} after ${m.warmup} warm-up)` : ''}`);
  out();
  out(`${'module'.padEnd(16)} ${'quota'.padStart(6)} ${'co-running'.padEnd(20)} ${'forward ms'.padStart(11)} ${'backward ms'.padStart(12)}`);
  for (const s of profile.samples) {
    const co = s.coRunning?.map((c) => `${c.module}@${c.quotaFraction.toFixed(2)}`).join(',') ?? '';
    out(`${s.module.padEnd(16)} ${s.quotaFraction.toFixed(3).padStart(6)} ${co.padEnd(20)} ${s.forwardMs.toFixed(3).padStart(11)} ${s.backwardMs.toFixed(3).padStart(12)}`);
  }
  const e = profile.engine;
  if (e) out(`\nengine costs: ${(e.perGraphMs * 1000).toFixed(1)} µs per iteration, ${(e.perTaskMs * 1000).toFixed(2)} µs per task, ${(e.perHopMs * 1000).toFixed(1)} µs per dependency between contexts (the planner adds them on local-cpu)`);
  if (output) out(`\nwrote ${output}`);
}

export function profileCommand(): Command {
  return new Command('profile')
    .description("Measure each module's forward and backward time per microbatch at each quota level on the engine, alone and in pairs")
    .requiredOption('-m, --model <file|name>', `model spec file, or a bundled model: ${bundledNames('models').join(', ')}`)
    .option('--device <device>', 'cpu (cores play the role of SMs) | cuda (not supported: no CUDA kernels yet)', oneOf('--device', ['cpu', 'cuda'] as const), 'cpu')
    .option('--scale <s>', 'in (0, 1]: shrink every module size by this factor to fit the CPU (FLOPs shrink by about s^4; 1 = real shapes); default: the scale `mosaic train` picks (1 for builtin-mm)', fraction('--scale'))
    .option('--micro <n>', "microbatch size to profile at (default: the model's)", positiveInteger('--micro'))
    .option('--levels <cores>', 'quota levels as comma-separated core counts (default: 1 up to every allowed core)', coreList)
    .option('--repeats <n>', 'timed runs per measurement', positiveInteger('--repeats'), DEFAULT_PROFILE_OPTIONS.repeats)
    .option('--statistic <s>', 'what a sample records of the timed runs: trimmed (mean of the middle 80%: predicts an iteration, a sum of task times, without one stall from another process dominating) | mean | median (blind to the slow tail)', oneOf('--statistic', PROFILE_STATISTICS), DEFAULT_PROFILE_OPTIONS.statistic)
    .option('--warmup <n>', 'untimed runs before the timed ones', nonNegativeInteger('--warmup'), 1)
    .option('--no-pairs', 'skip the co-running pairs (no interference fit)')
    .option('--seed <n>', 'seed of the random buffer contents', nonNegativeInteger('--seed'), 1)
    .option('-o, --output <file>', 'write the profile as JSON (atomically) for `mosaic calibrate` and `mosaic plan --profile`')
    .option('--json', 'print the profile as JSON instead of a table')
    .addHelpText(
      'after',
      `
Examples:
  $ mosaic profile --model builtin-mm -o profile.json
  $ mosaic profile -m llava-1.5-7b --scale 0.0625 --levels 1,2 --repeats 3 -o llava-cpu.json
  $ mosaic calibrate --model builtin-mm --profile profile.json

On the CPU a quota is a share of the cores: a module at k of N allowed cores is recorded with
quotaFraction k/N on device cpu-N-core, which is what --cluster local-cpu describes.
Progress goes to stderr (a bar on a terminal). Ctrl-C stops cleanly and writes nothing.

Exit codes: 0 ok, 1 internal error, 2 usage or invalid input (including --device cuda), ${EXIT.interrupted} interrupted.`,
    )
    .action(async (flags: ProfileFlags) => {
      await runCommand(async () => {
        if (flags.output !== undefined) checkOutputFile(flags.output, '-o');
        if (flags.device === 'cuda') {
          throw new MosaicError('E_USAGE', '--device cuda is not supported: the CUDA backend has no op kernels yet (it only creates SM partitions); profile with --device cpu');
        }
        const model = resolveModel(flags.model);
        const abort = new AbortController();
        const onSigint = (): void => abort.abort();
        process.once('SIGINT', onSigint);
        const bar = progressReporter();
        let profile: EngineProfile;
        try {
          profile = await profileModel(model, {
            device: flags.device,
            ...(flags.scale !== undefined ? { scale: flags.scale } : {}),
            ...(flags.micro !== undefined ? { micro: flags.micro } : {}),
            ...(flags.levels !== undefined ? { levels: flags.levels } : {}),
            repeats: flags.repeats,
            statistic: flags.statistic,
            warmup: flags.warmup,
            pairs: flags.pairs,
            seed: flags.seed,
            signal: abort.signal,
            onProgress: bar.update,
          });
        } catch (err) {
          bar.end();
          if (err instanceof ProfileCancelled) {
            process.stderr.write('mosaic: profiling interrupted; nothing written\n');
            process.exitCode = EXIT.interrupted;
            return;
          }
          throw err;
        } finally {
          process.removeListener('SIGINT', onSigint);
        }
        bar.end();
        const text = JSON.stringify(profile, null, 2) + '\n';
        if (flags.output !== undefined) writeFileAtomic(flags.output, text);
        if (flags.json) process.stdout.write(text);
        else printText(profile, flags.output);
      }, flags.json);
    });
}
