#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { MosaicError } from '../errors';
import { compareCommand } from './compare';
import { planCommand } from './plan';
import { showCommand } from './show';
import { trainCommand } from './train';
import { batchCommand } from './batch';
import { mergeCommand } from './merge';
import { profileCommand } from './profile';
import { calibrateCommand } from './calibrate';
import { scoreCommand } from './score';
import { initCommand } from './init';
import { importCommand } from './import';
import { exportCommand } from './export';
import { launchCommand } from './launch';

/** The CLI only translates flags to typed options and prints; the library never exits the process. */
export function buildProgram(): Command {
  const program = new Command('mosaic')
    .description('Plan and run multimodal-model training with several modules sharing each GPU under SM quotas')
    .version(require('../../../package.json').version)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addCommand(planCommand().exitOverride())
    .addCommand(showCommand().exitOverride())
    .addCommand(trainCommand().exitOverride())
    .addCommand(batchCommand().exitOverride())
    .addCommand(mergeCommand().exitOverride())
    .addCommand(profileCommand().exitOverride())
    .addCommand(calibrateCommand().exitOverride())
    .addCommand(compareCommand().exitOverride())
    .addCommand(scoreCommand().exitOverride())
    .addCommand(initCommand().exitOverride())
    .addCommand(importCommand().exitOverride())
    .addCommand(exportCommand().exitOverride())
    .addCommand(launchCommand().exitOverride())
    .addHelpText('after', `
Start here:
  $ mosaic plan --model llava-1.5-7b --cluster h100-1x8
  $ mosaic plan --help`);
  return program;
}

/**
 * Runs one command line (argv as process.argv: node, script, args...) and leaves its status in
 * process.exitCode; never exits the process and never rejects. Tests and the fuzzer call it in process.
 */
export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv as string[]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; every other commander error is a usage error (exit 2).
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof MosaicError) {
      for (const line of err.lines) process.stderr.write(`mosaic: ${line}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`mosaic: internal error (a bug; please report it): ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}

async function main(argv: readonly string[]): Promise<void> {
  // `mosaic plan ... | head` closes the pipe early: stop writing quietly instead of crashing on EPIPE.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.stdout.destroy();
  });
  await runCli(argv);
}

if (require.main === module) void main(process.argv);
