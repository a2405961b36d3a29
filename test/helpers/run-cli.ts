import { runCli } from '../../src/cli/main';

export type CliResult = { readonly status: number; readonly stdout: string; readonly stderr: string };

/**
 * Runs one `mosaic` command line in this process (the CLI's own entry, `runCli`), capturing stdout and
 * stderr and returning the exit status it set. Commands run one at a time: the capture replaces the
 * process streams' write while the command runs.
 */
export async function runCliInProcess(args: readonly string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  const capture = (sink: string[]) =>
    ((chunk: unknown, ...rest: unknown[]) => {
      sink.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
  const before = process.exitCode;
  process.exitCode = undefined;
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  let status: number;
  try {
    await runCli(['node', 'mosaic', ...args]);
    status = Number(process.exitCode ?? 0);
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
    process.exitCode = before;
  }
  return { status, stdout: out.join(''), stderr: err.join('') };
}

/** A stack trace's frame line, as Node prints them. */
export const STACK_FRAME = /^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>\)?)$/m;
