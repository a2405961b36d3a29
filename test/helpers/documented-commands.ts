import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from './fixtures';
import { runCliInProcess } from './run-cli';

/**
 * The commands the README and `--help` show, as a user would copy them: one place for the static
 * check (test/readme-commands.test.ts) and the run on a fresh clone (test/readme-run.test.ts).
 */

/** A fenced shell block of the README (```sh or ```bash), its lines with `\`-continuations joined. */
export type ShellBlock = { readonly line: number; readonly lines: readonly string[]; readonly script: string };

export function readmeShellBlocks(): ShellBlock[] {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const out: ShellBlock[] = [];
  for (const block of text.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)) {
    const line = text.slice(0, block.index).split('\n').length;
    const lines = block[1]!.replace(/\\\n\s*/g, ' ').split('\n').filter((l) => l.trim() !== '');
    out.push({ line, lines, script: block[1]! });
  }
  return out;
}

/** A shell line without its trailing comment (` # …`). */
export const withoutComment = (line: string): string => line.replace(/\s#\s.*$/, '');

/**
 * A `batch … --shard k/n -o DIRk` stands for its whole job array (an example shows one task; the merge
 * after it reads them all): one command per task 1..n. Any other command is itself.
 */
export function jobArrayTasks(command: string): string[] {
  const shard = /--shard (\d+)\/(\d+)/.exec(command);
  const dir = /-o (\S*?)(\d+)(?=\s|$)/.exec(command);
  if (!shard || !dir || dir[2] !== shard[1]) return [command];
  return Array.from({ length: Number(shard[2]) }, (_, i) => command.replace(shard[0], `--shard ${i + 1}/${shard[2]}`).replace(dir[0], `-o ${dir[1]}${i + 1}`));
}

/** A Slurm batch script (`#SBATCH --array=A-B`): the array's task ids, else undefined. */
export function jobArrayOf(block: ShellBlock): number[] | undefined {
  const m = /^#SBATCH --array=(\d+)-(\d+)\s*$/m.exec(block.script);
  if (!m) return undefined;
  return Array.from({ length: Number(m[2]) - Number(m[1]) + 1 }, (_, i) => Number(m[1]) + i);
}

/** Every `$ mosaic …` example line of each command's `--help` (and of `mosaic --help`), as shown. */
export async function helpExamples(commandNames: readonly string[]): Promise<{ name: string; lines: string[] }[]> {
  const out = [];
  for (const name of ['', ...commandNames]) {
    const r = await runCliInProcess(name ? [name, '--help'] : ['--help']);
    const lines = r.stdout.split('\n').filter((l) => /^\s*\$ mosaic /.test(l)).map((l) => l.replace(/^\s*\$\s*/, ''));
    out.push({ name: name || 'mosaic', lines });
  }
  return out;
}
