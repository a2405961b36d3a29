import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from '../src/io/atomic-write';
import { checkOutputDir, checkOutputFile, errnoError, setFsFaultHook, type FsOp } from '../src/io/output-path';
import { MosaicError } from '../src/errors';
import { ROOT } from './helpers/fixtures';
import { runCliInProcess, STACK_FRAME, type CliResult } from './helpers/run-cli';

/** One line on stderr, exit 2, no stack trace. */
function expectOneLine(r: CliResult, ...fragments: string[]): void {
  expect(r.status, r.stderr).to.equal(2);
  expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
  for (const f of fragments) expect(r.stderr).to.include(f);
  expect(r.stderr).not.to.match(STACK_FRAME);
}

describe('output paths: checked before work, one line and exit 2, no temporary file left', () => {
  // Made when the suite is defined: the cases below name paths inside it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-out-'));
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  afterEach(() => setFsFaultHook(undefined));
  const fault = (op: FsOp, code: string) => setFsFaultHook((o) => (o === op ? errnoError(code) : undefined));
  const leftovers = (d: string) => fs.readdirSync(d).filter((f) => f.endsWith('.tmp') || f.startsWith('.mosaic-probe'));

  const badFiles = (): [string, string, string][] => [
    ['a directory', dir, 'is a directory'],
    ['the root folder', '/', 'root folder'],
    ['an empty path', '', 'empty path'],
    ['a path under /proc', '/proc/mosaic-plan.json', 'under /proc'],
    ['a device', '/dev/null', 'under /dev'],
    ['a missing parent', path.join(dir, 'no-such-folder', 'plan.json'), 'does not exist'],
    ['a file used as a folder', path.join(file, 'plan.json'), 'is a file, not a folder'],
    ['a trailing slash', path.join(dir, 'new') + '/', 'ends with a slash'],
  ];

  for (const [what, target, words] of badFiles()) {
    it(`plan -o ${what} is refused before planning (the model is not even read)`, async () => {
      // An unknown model would be exit 2 too, but with another message: the output check comes first.
      expectOneLine(await runCliInProcess(['plan', '-m', 'no-such-model', '-c', 'h100-1x8', '-o', target]), words);
    });
  }

  it('every command that writes checks its path the same way', async () => {
    const plan = path.join(dir, 'plan.json');
    expect((await runCliInProcess(['plan', '-m', 'builtin-mm', '-c', 'local-cpu', '--method', 'heuristic', '-o', plan])).status).to.equal(0);
    expectOneLine(await runCliInProcess(['plan', '-m', 'builtin-mm', '-c', 'local-cpu', '--method', 'ilp', '--dump-lp', dir]), '--dump-lp', 'is a directory');
    expectOneLine(await runCliInProcess(['show', plan, '--svg', '/']), '--svg', 'root folder');
    expectOneLine(await runCliInProcess(['show', plan, '--svg', path.join(file, 'x.svg')]), '--svg', 'not a folder');
    expectOneLine(await runCliInProcess(['profile', '--device', 'cpu', '-m', 'builtin-mm', '-o', dir]), 'is a directory');
    const manifest = path.join(ROOT, 'datasets/suites/bundled.json');
    expectOneLine(await runCliInProcess(['batch', manifest, '-o', file]), 'is a file, not a folder');
    expectOneLine(await runCliInProcess(['batch', manifest, '-o', '/']), 'root folder');
    expectOneLine(await runCliInProcess(['batch', manifest, '-o', '/proc/mosaic']), 'under /proc');
    expectOneLine(await runCliInProcess(['batch', manifest, '-o', path.join(file, 'sub')]), 'is a file, not a folder');
    expectOneLine(await runCliInProcess(['merge', dir, '-o', '']), 'empty path');
    expectOneLine(await runCliInProcess(['merge', dir, '-o', file]), 'is a file, not a folder');
    expect(leftovers(dir)).to.deep.equal([]);
  });

  it('a folder that is not writable, or on a read-only file system (injected: root ignores chmod)', async () => {
    for (const code of ['EACCES', 'EROFS']) {
      fault('probe', code);
      const r = await runCliInProcess(['plan', '-m', 'builtin-mm', '-c', 'local-cpu', '--method', 'heuristic', '-o', path.join(dir, 'p.json')]);
      expectOneLine(r, `cannot write in folder ${dir}`, code);
      expect(() => checkOutputDir(path.join(dir, 'new', 'deeper'))).to.throw(MosaicError, code);
    }
    expect(leftovers(dir)).to.deep.equal([]);
  });

  for (const [op, code, words] of [['write', 'ENOSPC', 'disk full'], ['write', 'EIO', 'I/O error'], ['fsync', 'EIO', 'I/O error'], ['rename', 'EXDEV', 'rename']] as const) {
    it(`a ${op} failing midway with ${code}: one line, exit 2, old content kept, no .tmp left`, async () => {
      const target = path.join(dir, `plan-${op}-${code}.json`);
      fs.writeFileSync(target, 'old');
      fault(op, code);
      const r = await runCliInProcess(['plan', '-m', 'builtin-mm', '-c', 'local-cpu', '--method', 'heuristic', '-o', target]);
      expectOneLine(r, target, words, 'nothing was written');
      expect(fs.readFileSync(target, 'utf8')).to.equal('old');
      expect(leftovers(dir)).to.deep.equal([]);
    });
  }

  it('writeFileAtomic itself: the temporary file, already written, is removed; the error is typed E_OUTPUT', () => {
    const target = path.join(dir, 'partial.txt');
    fs.writeFileSync(target, 'old');
    let seen: string | undefined;
    // The data is in the temporary file when the flush fails (a delayed-allocation file system reports ENOSPC there).
    setFsFaultHook((op, f) => {
      if (op !== 'fsync') return undefined;
      seen = fs.readFileSync(f, 'utf8');
      return errnoError('ENOSPC');
    });
    expect(() => writeFileAtomic(target, 'new content')).to.throw(MosaicError, 'disk full').with.property('code', 'E_OUTPUT');
    expect(seen).to.equal('new content');
    expect(fs.readFileSync(target, 'utf8')).to.equal('old');
    expect(leftovers(dir)).to.deep.equal([]);
  });

  it('accepts what it should: a new file in an existing folder, an existing file, a folder to create', () => {
    expect(checkOutputFile(path.join(dir, 'new.json'))).to.equal(path.join(dir, 'new.json'));
    expect(checkOutputFile(file)).to.equal(file);
    expect(checkOutputDir(path.join(dir, 'a', 'b', 'c'))).to.equal(path.join(dir, 'a', 'b', 'c'));
    expect(checkOutputDir(dir)).to.equal(dir);
    expect(fs.existsSync(path.join(dir, 'a'))).to.equal(false);
  });
});
