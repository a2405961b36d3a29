import * as fs from 'fs';
import * as path from 'path';
import { MosaicError } from '../errors';
import { writeFileAtomic } from '../io/atomic-write';

const WHY: Readonly<Record<string, string>> = {
  ENOENT: 'cannot create a file there',
  ENOTDIR: 'a part of its path is not a folder',
  EISDIR: 'is a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

/**
 * Writes a spec that `init` or `import` produced: never over a directory, never over an existing file
 * unless `force`, atomically, and any failure as one line naming the file (exit 2).
 */
export function writeSpecFile(file: string, text: string, force: boolean): void {
  if (file.trim() === '') throw new MosaicError('E_USAGE', '-o expects a file name but received an empty one');
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (stat?.isDirectory()) throw new MosaicError('E_INPUT', `${file}: cannot write: is a directory`);
  if (stat && !force) throw new MosaicError('E_USAGE', `${file}: already exists; pass --force to overwrite it`);
  const parent = fs.statSync(path.dirname(path.resolve(file)), { throwIfNoEntry: false });
  if (!parent?.isDirectory()) throw new MosaicError('E_INPUT', `${file}: cannot write: its folder ${path.dirname(file)} does not exist`);
  try {
    writeFileAtomic(file, text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new MosaicError('E_INPUT', `${file}: cannot write: ${WHY[code] ?? (err as Error).message}`);
  }
}
