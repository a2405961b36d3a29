import * as fs from 'fs';
import * as path from 'path';
import { MosaicError } from '../errors';
import { fsErrorWords, injectedFault } from './output-path';

/**
 * Writes a file so that readers see the old content or the new, never half of it: write a temporary
 * file beside the target, flush it, then rename over the target. Every failure (disk full, I/O error,
 * a folder that went away) removes the temporary file and throws one line, E_OUTPUT (exit 2).
 * Check the path with `checkOutputFile` before the work that produces `data` starts.
 */
export function writeFileAtomic(file: string, data: string): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined;
  let step = 'create a temporary file beside it';
  try {
    injectedFault('open', tmp);
    fd = fs.openSync(tmp, 'wx');
    step = 'write';
    const bytes = Buffer.from(data, 'utf8');
    for (let off = 0; off < bytes.length; ) {
      injectedFault('write', tmp);
      off += fs.writeSync(fd, bytes, off, bytes.length - off);
    }
    step = 'flush';
    injectedFault('fsync', tmp);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    step = 'rename the temporary file over it';
    injectedFault('rename', tmp);
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* the error below is the one to report */
      }
    }
    fs.rmSync(tmp, { force: true });
    throw new MosaicError('E_OUTPUT', `${file}: cannot ${step}: ${fsErrorWords(err)}; nothing was written`);
  }
}
