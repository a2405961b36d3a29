import { backendInstalled, BACKEND_PACKAGES, type BackendName } from '../../solver/backends';
import { MosaicError } from '../errors';

/**
 * Throws one line (E_USAGE, exit 2) when the requested solver backend is not installed: glpk.js is an
 * optional dependency (GPL-3.0), and a missing backend is never replaced silently by another.
 */
export function requireSolver(name: BackendName): void {
  if (backendInstalled(name)) return;
  const { pkg, license } = BACKEND_PACKAGES[name];
  throw new MosaicError('E_USAGE', `--solver ${name} needs ${pkg} (${license}), which is not installed${name === 'glpk' ? ' (an optional dependency: npm install glpk.js)' : ''}; or use --solver highs (MIT)`);
}
