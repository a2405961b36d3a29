import { expect } from 'chai';
import type { Command } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import { buildProgram } from '../src/cli/main';
import { bundledNames } from '../src/spec/resolve';
import { helpExamples, jobArrayTasks, readmeShellBlocks, withoutComment } from './helpers/documented-commands';
import { ROOT } from './helpers/fixtures';

/**
 * Every `npx mosaic …` command in the README's fenced blocks and every `$ mosaic …` example of `--help`
 * must run as written on a fresh clone: the subcommand and each flag exist, and each input (model,
 * cluster, plan, profile, manifest, suite) is bundled, in the repository, or written by an earlier
 * command of the same text (README order; one command's help). The static half, in seconds; the
 * commands themselves run on a fresh clone in test/readme-run.test.ts (slow tier).
 */

const SLURM = { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '8', SLURM_CPUS_PER_TASK: '16' } as Record<string, string>;

/**
 * Splits a shell line into commands (`&&`), words, with comments, `${VAR}` and `{1..8}` expanded, and a
 * shard of a job array as all its tasks (`jobArrayTasks`: the merge after it reads every shard).
 */
function commandsOf(line: string): string[][] {
  const expanded = jobArrayTasks(withoutComment(line).replace(/\$\{(\w+)\}/g, (_, v: string) => SLURM[v] ?? `$${v}`));
  // A redirection ends the command's own words (`> job.sbatch` is the shell's, not the command's).
  return expanded.flatMap((command) => command.split('&&')).map((part) =>
    part.replace(/\s(?:>>?|<|\|)\s.*$/, '').trim().split(/\s+/).filter(Boolean).flatMap((w) => {
      const m = /^(.*)\{(\d+)\.\.(\d+)\}(.*)$/.exec(w);
      if (!m) return [w];
      return Array.from({ length: Number(m[3]) - Number(m[2]) + 1 }, (_, i) => `${m[1]}${Number(m[2]) + i}${m[4]}`);
    }),
  );
}

function readmeCommands(): string[][] {
  const out: string[][] = [];
  for (const block of readmeShellBlocks()) for (const line of block.lines) for (const c of commandsOf(line)) if (c[0] === 'npx' && c[1] === 'mosaic') out.push(c.slice(2));
  return out;
}

async function helpCommands(program: Command): Promise<{ name: string; commands: string[][] }[]> {
  return (await helpExamples(program.commands.map((c) => c.name()))).map(({ name, lines }) => ({
    name,
    commands: lines.flatMap((l) => commandsOf(l).filter((c) => c[0] === 'mosaic').map((c) => c.slice(1))),
  }));
}

/** Flags that take a value, and the ones naming an input or an output, per subcommand. */
function problemsOf(program: Command, commands: string[][], where: string): string[] {
  const problems: string[] = [];
  const produced = new Set<string>();
  const models = new Set(bundledNames('models'));
  const clusters = new Set([...bundledNames('clusters'), 'local-cpu']);
  const exists = (f: string) => produced.has(path.normalize(f)) || fs.existsSync(path.join(ROOT, f));
  for (const words of commands) {
    const shown = `${where}: mosaic ${words.join(' ')}`;
    const [name, ...args] = words;
    let cmd = program.commands.find((c) => c.name() === name);
    if (!cmd) {
      if (name !== '--help' && name !== '--version') problems.push(`${shown}: no command "${name}"`);
      continue;
    }
    // A nested command (`import hf`) reads the rest with its own options and arguments.
    let rest = args;
    const sub = rest[0] !== undefined ? cmd.commands.find((c) => c.name() === rest[0]) : undefined;
    if (sub) {
      cmd = sub;
      rest = rest.slice(1);
    }
    // Keyword arguments (`init model`) are one of their declared choices, not files.
    const keywords = new Set(cmd.registeredArguments.flatMap((a) => a.argChoices ?? []));
    const positional: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const w = rest[i]!;
      // After `--` comes the command that `launch`/`export` runs, not this command's arguments.
      if (w === '--') break;
      if (!w.startsWith('-')) {
        if (!keywords.has(w)) positional.push(w);
        continue;
      }
      if (w === '--help') continue;
      const opt = cmd.options.find((o) => o.long === w || o.short === w);
      if (!opt) {
        problems.push(`${shown}: ${name} has no option ${w}`);
        continue;
      }
      if (!(opt.required || opt.optional)) continue;
      const value = rest[++i];
      if (value === undefined) {
        problems.push(`${shown}: ${w} needs a value`);
        continue;
      }
      const long = opt.long!;
      if (long === '--model' && !models.has(value) && !exists(value)) problems.push(`${shown}: --model ${value}: neither a bundled model nor a file`);
      if (long === '--cluster' && !clusters.has(value) && !exists(value)) problems.push(`${shown}: --cluster ${value}: neither a bundled cluster nor a file`);
      if ((long === '--profile' || long === '--plan' || long === '--suite') && !exists(value)) problems.push(`${shown}: ${long} ${value}: no such file, and no earlier command writes it`);
      if (['--output', '--svg', '--dump-lp'].includes(long)) produced.add(path.normalize(value));
    }
    // Positional inputs: a plan (show, score), a manifest (batch), batch directories (merge).
    for (const p of positional) if (!exists(p)) problems.push(`${shown}: ${p}: no such file or folder, and no earlier command writes it`);
  }
  return problems;
}

describe('README and --help: every command runs as written on a fresh clone', () => {
  it('README commands: known subcommands and flags, inputs that exist or an earlier command writes', () => {
    const commands = readmeCommands();
    expect(commands.length).to.be.greaterThan(10);
    expect(problemsOf(buildProgram(), commands, 'README')).to.deep.equal([]);
  });

  it('--help examples of every command, each read on its own', async () => {
    const program = buildProgram();
    const all = await helpCommands(program);
    expect(all.reduce((n, h) => n + h.commands.length, 0)).to.be.greaterThan(15);
    expect(all.flatMap((h) => problemsOf(program, h.commands, `mosaic ${h.name} --help`))).to.deep.equal([]);
  });

  it('the README links nothing outside the repository, and the design notes are in docs/', () => {
    const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(text).not.to.match(/\.\.\/shared|\]\(\.\.\//);
    expect(fs.existsSync(path.join(ROOT, 'docs/DESIGN.md'))).to.equal(true);
    for (const link of text.matchAll(/\]\(((?!https?:)[^)#]+)\)/g)) expect(fs.existsSync(path.join(ROOT, link[1]!)), link[1]).to.equal(true);
  });

  it('`mosaic` is the package bin, with a shebang', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.bin).to.deep.equal({ mosaic: 'dist/src/cli/main.js' });
    expect(fs.readFileSync(path.join(ROOT, pkg.bin.mosaic), 'utf8').split('\n')[0]).to.equal('#!/usr/bin/env node');
  });
});
