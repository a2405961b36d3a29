import { inputError } from '../errors';
import { readJsonFile } from '../spec/json-file';
import { parseCluster, parseModel, parseProfile, parseSpec } from '../spec/load';
import { buildPerfModel } from '../perf/perf-model';
import type { Plan, PlanFile, Provenance } from '../spec/plan';
import { scorePlacement, toPlan } from './make-plan';
import { validatePlan } from './validate';

/**
 * Reads a plan file (here in src/plan, not src/spec: it runs the plan validator, which needs the
 * performance model, and src/spec imports nothing above it): schema, then the embedded model and cluster against their own schemas, then the
 * independent plan validator, so that a hand-edited plan is refused before anything shows or runs it.
 * A file without a prediction (written by hand) gets one from the simulator.
 */
export function loadPlan(file: string): Plan {
  const data = parseSpec<PlanFile>('plan', readJsonFile(file), file);
  parseModel(data.model, `${file}#/model`);
  parseCluster(data.cluster, `${file}#/cluster`);
  if (data.profile) parseProfile(data.profile, `${file}#/profile`);
  const problems = validatePlan(data);
  if (problems.length > 0) throw inputError(problems.map((p) => `${file}: ${p}`));
  // Plan files from before one status vocabulary (src/spec/words.ts) said ilp-optimal or ilp-incumbent.
  const legacy = (data.provenance as string) === 'ilp-optimal' || (data.provenance as string) === 'ilp-incumbent';
  const plan = legacy ? { ...data, provenance: 'ilp' } : data;
  if (plan.prediction) return { ...plan, prediction: plan.prediction };
  // A plan written by hand without a prediction: simulate it as the planner would have (toPlan checks it again).
  const perf = buildPerfModel(plan.model, plan.cluster, plan.profile);
  const predicted = toPlan(perf, scorePlacement(perf, [...plan.gpus], [...plan.replicas]), plan.provenance as Provenance, plan.profile, plan.solver);
  return { ...plan, gpus: predicted.gpus, prediction: predicted.prediction };
}
