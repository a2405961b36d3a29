/**
 * Solve with a preferred backend and, when it fails ('error' status, crash or throw), retry with
 * the other one. 'unbounded' is a verdict about the model, not a failure, so it is not retried.
 */

import { MilpModel } from '../model';
import { BACKEND_PACKAGES, backendInstalled } from './available';
import { createWorkerBackend } from './worker-backend';
import { BackendName, SolveOptions, SolveResult, SolverBackend } from './types';

export const UNBOUNDED_MESSAGE = 'unbounded';

/** Test seam: replace any backend (e.g. with one that throws). */
export type FallbackSeams = { readonly backends?: Partial<Record<BackendName, SolverBackend>> };

/** HiGHS and jslp fall back to glpk; glpk to jslp (the one that shares no code with it). */
const other = (name: BackendName): BackendName => (name === 'glpk' ? 'jslp' : 'glpk');

/** The smallest budget the second backend gets, even when the first used up the limit. */
const MIN_FALLBACK_MS = 500;

/** A backend's message as one line: a crash's stack trace goes no further than its first line (plans carry these in their notes). */
function oneLine(r: SolveResult): SolveResult {
  if (r.message === undefined) return r;
  const first = r.message.split('\n')[0]!.trim();
  return first === r.message ? r : { ...r, message: first };
}

async function attempt(backend: SolverBackend, model: MilpModel, options: SolveOptions): Promise<SolveResult> {
  const started = Date.now();
  try {
    return await backend.solve(model, options);
  } catch (error) {
    return { backend: backend.name, status: 'error', solveMs: Date.now() - started, message: `threw: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export async function solveWithFallback(model: MilpModel, options: SolveOptions, preferred: BackendName, seams: FallbackSeams = {}): Promise<SolveResult> {
  const backendFor = (name: BackendName): SolverBackend => seams.backends?.[name] ?? createWorkerBackend(name);
  const started = Date.now();
  const first = oneLine(await attempt(backendFor(preferred), model, options));
  if (first.status !== 'error' || first.message === UNBOUNDED_MESSAGE) return first;
  const secondName = other(preferred);
  if (!seams.backends?.[secondName] && !backendInstalled(secondName)) {
    return { ...first, message: `${preferred} failed (${first.message ?? 'no message'}); no fallback: ${BACKEND_PACKAGES[secondName].pkg} is not installed` };
  }
  const remainingMs = Math.max(MIN_FALLBACK_MS, options.timeLimitMs - (Date.now() - started));
  const second = oneLine(await attempt(backendFor(secondName), model, { ...options, timeLimitMs: remainingMs }));
  const why = `${preferred} failed (${first.message ?? 'no message'})`;
  const outcome = second.status === 'error' ? `${secondName} failed too (${second.message ?? 'no message'})` : `fell back to ${secondName}`;
  return { ...second, solveMs: Date.now() - started, message: `${why}; ${outcome}${second.status !== 'error' && second.message ? ` (${second.message})` : ''}` };
}
