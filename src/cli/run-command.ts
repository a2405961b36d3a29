import { EXIT, MosaicError } from '../errors';

/**
 * Runs a command body and turns failures into the exit codes of DESIGN §8: typed errors (engine
 * errors too: they are the same class) print their lines through the error table's template (no
 * stack trace) and set their code; anything else is a bug, printed with its stack, exit 1.
 * With `json`, the error is also written to stdout as {"error": {...}} for machines.
 */
export async function runCommand(body: () => Promise<void> | void, json = false): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof MosaicError) {
      for (const line of err.displayLines) process.stderr.write(`mosaic: ${line}\n`);
      if (json) process.stdout.write(JSON.stringify({ error: { code: err.code, exitCode: err.exitCode, messages: err.lines } }) + '\n');
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`mosaic: internal error (a bug; please report it): ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = EXIT.internal;
  }
}
