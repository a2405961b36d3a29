import * as fs from 'fs';
import { inputError } from '../errors';

/**
 * Reads and parses a JSON file, turning every failure into one clear line that names the file.
 * JSON has no NaN or Infinity; a file that writes them gets a message saying so rather than the
 * parser's "Unexpected token N".
 */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory, expected a JSON file' : e.message;
    throw inputError(`${file}: cannot read: ${why}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const nonFinite = /(?<![A-Za-z"])(-?Infinity|NaN)(?![A-Za-z"])/.exec(text);
    if (nonFinite) {
      const { line, column } = lineColumn(text, nonFinite.index);
      throw inputError(`${file}:${line}:${column}: ${nonFinite[1]} is not a JSON number; use a finite number`);
    }
    const message = (err as Error).message;
    const at = /position (\d+)/.exec(message);
    if (at) {
      const { line, column } = lineColumn(text, Number(at[1]));
      throw inputError(`${file}:${line}:${column}: malformed JSON: ${message.replace(/ in JSON at position \d+.*$/, '')}`);
    }
    // Node 20 gives no position for a file that stops early (or is empty): the end of the text is where it broke.
    const { line, column } = lineColumn(text, text.length);
    throw inputError(`${file}:${line}:${column}: malformed JSON: ${message}`);
  }
}

function lineColumn(text: string, index: number): { line: number; column: number } {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  const column = index - before.lastIndexOf('\n');
  return { line, column };
}
