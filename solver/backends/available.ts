/**
 * Which solver backends are installed. glpk.js (GPL-3.0) is an optional dependency, so a user who needs
 * an MIT-only dependency set installs with `npm ci --omit=optional`; asking for it then is a clear
 * error, never a silent switch to another backend.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { BackendName } from './types';

/** The npm package each backend loads, and its licence (from the package's own package.json). */
export const BACKEND_PACKAGES: Readonly<Record<BackendName, { readonly pkg: string; readonly license: string }>> = {
  highs: { pkg: 'highs', license: 'MIT' },
  glpk: { pkg: 'glpk.js', license: 'GPL-3.0' },
  jslp: { pkg: 'javascript-lp-solver', license: 'Unlicense' },
};

let hidden: ReadonlySet<BackendName> = new Set();

/** Tests only: treat these backends as not installed. Returns the previous set. */
export function hideBackendsForTesting(names: readonly BackendName[]): readonly BackendName[] {
  const prev = [...hidden];
  hidden = new Set(names);
  return prev;
}

/** True when the backend's package can be found from here (node_modules up the tree). */
export function backendInstalled(name: BackendName): boolean {
  if (hidden.has(name)) return false;
  const { pkg } = BACKEND_PACKAGES[name];
  return (require.resolve.paths(pkg) ?? []).some((dir) => fs.existsSync(path.join(dir, pkg, 'package.json')));
}
