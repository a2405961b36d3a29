import { inputError } from '../errors';
import { checkModelSemantics } from './check-model';
import { readJsonFile } from './json-file';
import { gpuCountOf } from './problem';
import { formatSchemaErrors, schemaValidator, type SchemaName } from './schemas';
import type { ClusterSpec, ModelSpec, Profile } from './types';

/** Validates parsed JSON against a schema; `where` names the file (or source) in every message. */
export function parseSpec<T>(schema: SchemaName, data: unknown, where: string): T {
  const validate = schemaValidator(schema);
  if (!validate(data)) throw inputError(formatSchemaErrors(where, validate.errors ?? []));
  return data as T;
}

export function parseModel(data: unknown, where: string): ModelSpec {
  // A Hugging Face config.json passed as a model would fail on every required field: say what it is.
  const hf = data as { model_type?: unknown; modules?: unknown } | null;
  if (typeof hf === 'object' && hf !== null && typeof hf.model_type === 'string' && hf.modules === undefined) {
    throw inputError(`${where}: a Hugging Face config.json (model_type "${hf.model_type}"), not a Mosaic model; convert it with: mosaic import hf ${where}`);
  }
  const model = parseSpec<ModelSpec>('model', data, where);
  const problems = checkModelSemantics(model);
  if (problems.length > 0) throw inputError(problems.map((p) => `${where}: ${p}`));
  return model;
}

/** GPUs in a cluster, at most: the heuristic simulates every GPU (1,024 take about a minute here). */
export const MAX_GPUS = 4096;

export function parseCluster(data: unknown, where: string): ClusterSpec {
  const cluster = parseSpec<ClusterSpec>('cluster', data, where);
  const g = cluster.gpu;
  const problems: string[] = [];
  const gpus = gpuCountOf(cluster);
  if (gpus > MAX_GPUS) problems.push(`${where}: /nodes: ${cluster.nodes} nodes × ${cluster.gpusPerNode} GPUs = ${gpus} GPUs, more than ${MAX_GPUS}, the most the planner simulates`);
  if (g.smGranularity.min > g.smCount) problems.push(`${where}: /gpu/smGranularity/min: minimum partition of ${g.smGranularity.min} SMs exceeds the ${g.smCount} SMs of a ${g.name}`);
  if (problems.length > 0) throw inputError(problems);
  return cluster;
}

export function parseProfile(data: unknown, where: string): Profile {
  return parseSpec<Profile>('profile', data, where);
}

export const loadModel = (file: string): ModelSpec => parseModel(readJsonFile(file), file);
export const loadCluster = (file: string): ClusterSpec => parseCluster(readJsonFile(file), file);
export const loadProfile = (file: string): Profile => parseProfile(readJsonFile(file), file);
