import { Command } from 'commander';
import { calibrate, type CalibrationReport, type CurveReport } from '../perf/calibration';
import { bundledNames, resolveCluster, resolveModel, resolveProfile } from '../spec/resolve';
import { MosaicError } from '../errors';
import { fitPhysics, type PhysicsFit } from '../perf/fit-physics';
import { readSweep, type SweepRecord } from '../perf/sweep';
import { runCommand } from './run-command';

type CalibrateFlags = { model?: string; profile?: string; cluster: string; json?: boolean; sweep?: string[] };

function loadSweeps(files: readonly string[]): SweepRecord[] {
  return files.flatMap((f) => {
    try {
      return readSweep(f);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new MosaicError('E_INPUT', `${f}: ${e.code === 'ENOENT' ? 'no such file' : `not a sweep file (one JSON object per line): ${e.message}`}`);
    }
  });
}

function printPhysics(fit: PhysicsFit, files: readonly string[]): void {
  const out = (s = '') => process.stdout.write(s + '\n');
  out(`Physics of ${fit.gpu} (row ${fit.architecture}) fitted to ${files.join(', ')}`);
  out('error: mean absolute percentage error of the predicted time (or co-running slowdown) per point');
  out();
  out(`${'kind'.padEnd(14)} ${'points'.padStart(6)} ${'table'.padStart(9)} ${'fitted'.padStart(9)}`);
  for (const k of fit.kinds) out(`${k.kind.padEnd(14)} ${String(k.points).padStart(6)} ${k.mapeBefore.toFixed(1).padStart(7)} % ${k.mapeAfter.toFixed(1).padStart(7)} %`);
  out();
  out('constant                       table     fitted');
  for (const [key, v] of Object.entries(fit.physics)) {
    if (key === 'source') continue;
    const was = (fit.before as Record<string, number>)[key];
    out(`${key.padEnd(28)} ${String(was).padStart(8)} ${String(v).padStart(10)}`);
  }
  out();
  out('To plan with these, put this block under "gpu" in your cluster spec:');
  out(JSON.stringify({ physics: fit.physics }, null, 2));
}

function curveText(c: CurveReport): string {
  return `${c.mapePercent.toFixed(2).padStart(7)} %  ${c.overheadMs.toFixed(3).padStart(9)} + ${c.workMs.toFixed(3).padStart(9)} / min(q, ${c.saturationFraction.toFixed(2)})`;
}

function printText(r: CalibrationReport): void {
  const out = (s = '') => process.stdout.write(s + '\n');
  out(`Calibration of ${r.model} on ${r.cluster} (device ${r.device})`);
  out(`fit: t(q) = overhead ms + work ms / min(q, saturation), per microbatch of ${r.perf.model.batch.micro}; error is MAPE over the solo samples`);
  if (r.timesFrom === 'measured points') out('on this CPU cluster the planner uses the measured times at each core count (interpolated between them), not the curve: more cores can be slower for small ops, which the curve cannot show');
  if (r.scale !== undefined && r.scale !== 1) out(`the profile replayed every module shrunk by ${r.scale} (mosaic profile --scale): these curves give the shrunk model's times`);
  out();
  out(`${'module'.padEnd(16)} ${'pts'.padStart(4)} ${'pass'.padEnd(8)} ${'error'.padStart(9)}  curve`);
  for (const m of r.modules) {
    if (m.source === 'analytic') {
      out(`${m.module.padEnd(16)} ${'-'.padStart(4)} analytic ${m.reason}`);
      continue;
    }
    out(`${m.module.padEnd(16)} ${String(m.forward.points).padStart(4)} ${'forward'.padEnd(8)} ${curveText(m.forward)}`);
    if (m.backward) out(`${''.padEnd(16)} ${String(m.backward.points).padStart(4)} ${'backward'.padEnd(8)} ${curveText(m.backward)}`);
    else out(`${''.padEnd(16)} ${''.padStart(4)} ${'backward'.padEnd(8)} none (${m.backwardKind === 'none' ? 'frozen, nothing trainable upstream' : 'not measured'})`);
  }
  out();
  const i = r.interference;
  if (i.source === 'fitted') {
    out(`interference α = ${i.alpha.toFixed(4)} fitted to ${i.samples} co-running sample${i.samples === 1 ? '' : 's'}${i.mapePercent !== undefined ? `; their forward times are predicted within ${i.mapePercent.toFixed(2)} % (MAPE)` : ''}`);
  } else {
    out(`interference α = ${i.alpha} (default: ${i.samples === 0 ? 'no co-running samples; profile without --no-pairs to fit it' : 'the neighbours draw no bandwidth in the model'})`);
  }
}

function toJson(r: CalibrationReport) {
  const { perf: _perf, ...rest } = r;
  return { ...rest, perfSource: r.perf.source };
}

export function calibrateCommand(): Command {
  return new Command('calibrate')
    .description('Fit the performance model to a profile from `mosaic profile` and print the fit error per module and the interference coefficient')
    .option('-m, --model <file|name>', `model spec file, or a bundled model: ${bundledNames('models').join(', ')} (with --profile)`)
    .option('-p, --profile <file>', 'profile written by `mosaic profile` (with --model)')
    .option('--sweep <file...>', 'instead: fit the GPU physics constants to sweep files from scripts/gpu-sweep.py')
    .option('-c, --cluster <file|name>', 'cluster the profile was measured on (local-cpu for a CPU profile from this machine)', 'local-cpu')
    .option('--json', 'print a machine-readable report instead of text')
    .addHelpText(
      'after',
      `
Examples:
  $ mosaic profile --model builtin-mm -o profile.json
  $ mosaic calibrate --model builtin-mm --profile profile.json
  $ mosaic calibrate -m builtin-mm -p profile.json --json
  $ mosaic plan -m builtin-mm -c local-cpu --profile profile.json
  $ mosaic calibrate --sweep datasets/profiles/h200-2026-11-27/sweep.jsonl datasets/profiles/h200-2026-11-27/blocks.jsonl
    (on your own GPU: python3 scripts/gpu-sweep.py --out sweep/, then calibrate --sweep sweep/gpu-sweep.jsonl)

Exit codes: 0 ok, 1 internal error, 2 usage or invalid input (a profile for another model or device, too few points, a malformed sweep).`,
    )
    .action(async (flags: CalibrateFlags) => {
      await runCommand(() => {
        if (flags.sweep) {
          const records = loadSweeps(flags.sweep);
          if (!records.some((r) => r.section === 'env')) throw new MosaicError('E_INPUT', `${flags.sweep.join(', ')}: no env record (the GPU's name and SM count); run scripts/gpu-sweep.py with its env section`);
          let fit: PhysicsFit;
          try {
            fit = fitPhysics(records, `mosaic calibrate --sweep ${flags.sweep.join(' ')}`);
          } catch (err) {
            throw new MosaicError('E_INPUT', `${flags.sweep.join(', ')}: ${(err as Error).message}`);
          }
          if (flags.json) process.stdout.write(JSON.stringify({ ...fit, rows: undefined, points: fit.rows.length }, null, 2) + '\n');
          else printPhysics(fit, flags.sweep);
          return;
        }
        if (!flags.model || !flags.profile) throw new MosaicError('E_USAGE', 'calibrate needs --model and --profile (a profile fit), or --sweep (a GPU physics fit)');
        const model = resolveModel(flags.model);
        const cluster = resolveCluster(flags.cluster);
        const profile = resolveProfile(flags.profile);
        const report = calibrate(model, cluster, profile, flags.profile);
        if (flags.json) process.stdout.write(JSON.stringify(toJson(report), null, 2) + '\n');
        else printText(report);
      }, flags.json);
    });
}
