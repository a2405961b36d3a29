import { Command } from 'commander';
import { calibrate, type CalibrationReport, type CurveReport } from '../perf/calibration';
import { bundledNames, resolveCluster, resolveModel, resolveProfile } from '../spec/resolve';
import { runCommand } from './run-command';

type CalibrateFlags = { model: string; profile: string; cluster: string; json?: boolean };

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
    .requiredOption('-m, --model <file|name>', `model spec file, or a bundled model: ${bundledNames('models').join(', ')}`)
    .requiredOption('-p, --profile <file>', 'profile written by `mosaic profile`')
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

Exit codes: 0 ok, 1 internal error, 2 usage or invalid input (a profile for another model or device, too few points).`,
    )
    .action(async (flags: CalibrateFlags) => {
      await runCommand(() => {
        const model = resolveModel(flags.model);
        const cluster = resolveCluster(flags.cluster);
        const profile = resolveProfile(flags.profile);
        const report = calibrate(model, cluster, profile, flags.profile);
        if (flags.json) process.stdout.write(JSON.stringify(toJson(report), null, 2) + '\n');
        else printText(report);
      }, flags.json);
    });
}
