import * as fs from 'fs';
import * as path from 'path';
import { MosaicError } from '../errors';

/**
 * Every file or folder a command writes goes through here: the path is checked before any work starts
 * (so a two-minute plan does not end in a stack trace because `-o` names a folder), and a write that
 * fails midway (disk full, I/O error) becomes one line with exit 2, never a stack trace.
 */

/** The file-system operations a write performs, as seen by the fault hook. */
export type FsOp = 'probe' | 'open' | 'write' | 'fsync' | 'rename' | 'mkdir';

type FaultHook = (op: FsOp, file: string) => NodeJS.ErrnoException | undefined;
let faultHook: FaultHook | undefined;

/**
 * Tests only: make the given operations fail as the kernel would (ENOSPC on write, EACCES on probe, ...),
 * since a read-only folder cannot be made with chmod when the tests run as root. Returns the previous hook.
 */
export function setFsFaultHook(hook: FaultHook | undefined): FaultHook | undefined {
  const prev = faultHook;
  faultHook = hook;
  return prev;
}

/** Throws the injected fault for `op` on `file`, if any. */
export function injectedFault(op: FsOp, file: string): void {
  const err = faultHook?.(op, file);
  if (err) throw err;
}

export function errnoError(code: string, message = code): NodeJS.ErrnoException {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

const WORDS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device (disk full)',
  EDQUOT: 'disk quota exceeded',
  EIO: 'I/O error',
  ENOENT: 'the folder does not exist',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'is a directory; give a file name',
  ENAMETOOLONG: 'name too long',
  EEXIST: 'already exists',
  EXDEV: 'cannot rename across file systems',
  EMFILE: 'too many open files',
  EFBIG: 'file too large',
};

/** One line for an errno error: the words for its code (the code itself when unknown). */
export function fsErrorWords(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string') return WORDS[e.code] ? `${WORDS[e.code]} (${e.code})` : `${e.code}: ${String(e.message).split('\n')[0]}`;
  return String((err as Error)?.message ?? err).split('\n')[0] as string;
}

/** Kernel file systems: never a place for an output. */
const KERNEL_ROOTS = ['/proc', '/sys', '/dev'];

function kernelRoot(resolved: string): string | undefined {
  return KERNEL_ROOTS.find((r) => resolved === r || resolved.startsWith(r + '/'));
}

function fail(flag: string, file: string, why: string): never {
  throw new MosaicError('E_OUTPUT', `${flag} ${JSON.stringify(file)}: ${why}`);
}

/** Proves a folder accepts new files by creating and removing one (access(2) says yes to root on a folder it cannot write, e.g. under /proc). */
function probeFolder(dir: string, flag: string, shown: string): void {
  const probe = path.join(dir, `.mosaic-probe.${process.pid}.${Date.now()}`);
  try {
    injectedFault('probe', dir);
    fs.closeSync(fs.openSync(probe, 'wx'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(flag, shown, `cannot write in folder ${dir}: ${code === 'ENOENT' ? 'it does not accept new files' : fsErrorWords(err)}`);
  }
  fs.rmSync(probe, { force: true });
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * Checks that `file` can be written as a file (atomically: a temporary file beside it, then a rename):
 * not empty, not a folder or `/`, not a device or anything but a regular file, not under /proc, /sys or
 * /dev, its folder exists and accepts new files. Throws E_OUTPUT (exit 2) with one line; returns the
 * absolute path.
 */
export function checkOutputFile(file: string, flag = '-o'): string {
  if (typeof file !== 'string' || file.trim() === '') fail(flag, String(file ?? ''), 'empty path; give a file name');
  if (file.includes('\0')) fail(flag, file, 'the path contains a NUL byte');
  const resolved = path.resolve(file);
  const kernel = kernelRoot(resolved);
  if (kernel) fail(flag, file, `is under ${kernel}, a kernel file system; give a file in a folder of your own`);
  if (resolved === path.parse(resolved).root) fail(flag, file, 'is the root folder; give a file name');
  if (/[/\\]$/.test(file)) fail(flag, file, 'ends with a slash: a folder; give a file name');
  let st: fs.Stats | undefined;
  try {
    st = statOrUndefined(resolved);
  } catch (err) {
    fail(flag, file, fsErrorWords(err));
  }
  if (st?.isDirectory()) fail(flag, file, 'is a directory; give a file name');
  if (st && !st.isFile()) fail(flag, file, 'exists and is not a regular file (a device, pipe or socket); give a file name');
  const dir = path.dirname(resolved);
  const dirSt = parentStat(dir, flag, file);
  if (!dirSt.isDirectory()) fail(flag, file, `${dir} is a file, not a folder`);
  probeFolder(dir, flag, file);
  return resolved;
}

function parentStat(dir: string, flag: string, file: string): fs.Stats {
  try {
    return fs.statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') fail(flag, file, `folder ${dir} does not exist; create it first`);
    if (code === 'ENOTDIR') fail(flag, file, `a part of ${dir} is a file, not a folder`);
    fail(flag, file, fsErrorWords(err));
  }
}

/**
 * Checks that `dir` can be used as an output folder: not empty, not `/`, not under /proc, /sys or /dev,
 * not a file; if it does not exist, its nearest existing ancestor is a folder that accepts new entries
 * (the command creates the rest). Throws E_OUTPUT (exit 2) with one line; returns the absolute path.
 */
export function checkOutputDir(dir: string, flag = '-o'): string {
  if (typeof dir !== 'string' || dir.trim() === '') fail(flag, String(dir ?? ''), 'empty path; give a folder');
  if (dir.includes('\0')) fail(flag, dir, 'the path contains a NUL byte');
  const resolved = path.resolve(dir);
  const kernel = kernelRoot(resolved);
  if (kernel) fail(flag, dir, `is under ${kernel}, a kernel file system; give a folder of your own`);
  if (resolved === path.parse(resolved).root) fail(flag, dir, 'is the root folder; give a folder of its own');
  let at = resolved;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') fail(flag, dir, `a part of ${at} is a file, not a folder`);
      if (code !== 'ENOENT') fail(flag, dir, fsErrorWords(err));
    }
    if (st) {
      if (!st.isDirectory()) fail(flag, dir, at === resolved ? 'is a file, not a folder' : `${at} is a file, not a folder`);
      probeFolder(at, flag, dir);
      return resolved;
    }
    const up = path.dirname(at);
    if (up === at) fail(flag, dir, 'no part of the path exists');
    at = up;
  }
}

/** Creates an output folder (and its parents), failures as one line (exit 2). */
export function makeOutputDir(dir: string, flag = '-o'): void {
  try {
    injectedFault('mkdir', dir);
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    fail(flag, dir, `cannot create the folder: ${fsErrorWords(err)}`);
  }
}
