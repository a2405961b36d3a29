/**
 * Renders a launch contract for the engines people train with: a per-rank environment, a `torchrun`
 * command per node, an `sbatch` script. Pure string functions; `mosaic export` prints them and
 * `mosaic launch` uses `rankEnv` for the processes it spawns.
 */

import type { LaunchContract, LaunchRank, ProcessPer } from '../spec/types';

/** How a rank's SM quota is enforced: green contexts in the runtime, MPS per process, or not at all. */
export type QuotaMode = 'green' | 'mps' | 'none';
export const QUOTA_MODES: readonly QuotaMode[] = ['green', 'mps', 'none'];

/** One process per GPU under green contexts (they split one process's SMs); per slot under MPS and none. */
export function defaultProcessPer(mode: QuotaMode): ProcessPer {
  return mode === 'green' ? 'gpu' : 'slot';
}

export type EnvOptions = {
  readonly quotaMode: QuotaMode;
  readonly masterAddr: string;
  readonly masterPort: number;
  /** MOSAIC_LAUNCH: a path to the contract file, or the contract inline (JSON) when absent. */
  readonly contractPath?: string;
};

/** The environment of one rank, in a stable key order. */
export function rankEnv(c: LaunchContract, rank: LaunchRank, o: EnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  if (c.device === 'gpu') env.CUDA_VISIBLE_DEVICES = String(rank.localGpu);
  env.RANK = String(rank.rank);
  env.LOCAL_RANK = String(rank.localRank);
  env.WORLD_SIZE = String(c.worldSize);
  env.LOCAL_WORLD_SIZE = String(c.nodes[rank.node].ranks.length);
  env.GROUP_RANK = String(rank.node);
  env.MASTER_ADDR = o.masterAddr;
  env.MASTER_PORT = String(o.masterPort);
  env.MOSAIC_LAUNCH = o.contractPath ?? JSON.stringify(c);
  env.MOSAIC_QUOTA_MODE = o.quotaMode;
  if (o.quotaMode === 'mps' && c.device === 'gpu') env.CUDA_MPS_ACTIVE_THREAD_PERCENTAGE = String(rank.slots[0].mpsPercentage);
  return env;
}

/** POSIX single quotes. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=,+@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `export K=V` blocks, one per rank, each headed by what the rank runs. */
export function renderEnv(c: LaunchContract, o: EnvOptions, only?: number): string {
  const lines: string[] = [];
  for (const r of c.ranks) {
    if (only !== undefined && r.rank !== only) continue;
    lines.push(`# rank ${r.rank}: node ${r.node}, GPU ${r.gpu}, ${r.slots.map((s) => `${s.id} ${s.smCount} SMs [${s.modules.join(', ')}]`).join('; ')}`);
    for (const [k, v] of Object.entries(rankEnv(c, r, o))) lines.push(`export ${k}=${shellQuote(v)}`);
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * One `torchrun` command per node that hosts ranks. torchrun numbers ranks node by node in node-rank
 * order, as the contract does; it cannot give each local process its own environment, so the runtime
 * takes the GPU and the MPS percentage of its rank from the contract (mosaic_runtime.init()).
 */
export function renderTorchrun(c: LaunchContract, o: EnvOptions, command: readonly string[]): string[] {
  const active = c.nodes.filter((n) => n.ranks.length > 0);
  return active.map((n, i) =>
    [
      `MOSAIC_LAUNCH=${shellQuote(o.contractPath ?? JSON.stringify(c))}`,
      `MOSAIC_QUOTA_MODE=${o.quotaMode}`,
      'torchrun',
      `--nnodes=${active.length}`,
      `--node_rank=${i}`,
      `--nproc_per_node=${n.ranks.length}`,
      `--master_addr=${shellQuote(o.masterAddr)}`,
      `--master_port=${o.masterPort}`,
      ...torchrunProgram(command).map(shellQuote),
    ].join(' '),
  );
}

/** torchrun runs a Python script itself: `python x.py a` becomes `x.py a`, anything else `--no_python CMD`. */
function torchrunProgram(command: readonly string[]): string[] {
  if (command.length > 1 && /^python[0-9.]*$/.test(command[0].split('/').pop() ?? '')) return command.slice(1);
  return ['--no_python', ...command];
}

export type SlurmOptions = EnvOptions & {
  readonly planPath: string;
  readonly jobName: string;
  /** How to call mosaic on the nodes (default `npx mosaic`). */
  readonly mosaic: string;
  /** CPUs to request per node (default: one per rank on the node). */
  readonly cpusPerNode?: number;
};

/**
 * An sbatch script: one `mosaic launch` task per node (srun --ntasks-per-node=1), which spawns the
 * node's ranks with their environment. Nodes that need different GPU counts become components of a
 * heterogeneous job (`#SBATCH hetjob`); `mosaic launch` takes its node rank from SLURM_PROCID, which
 * counts the tasks of a heterogeneous step across its components in order.
 */
export function renderSlurm(c: LaunchContract, o: SlurmOptions, command: readonly string[]): string {
  const active = c.nodes.filter((n) => n.ranks.length > 0);
  // Consecutive nodes with the same GPU count form one component.
  const gpusOf = (ranks: readonly number[]) => new Set(ranks.map((r) => c.ranks[r].localGpu)).size;
  const components: { nodes: number; gpus: number; tasks: number }[] = [];
  for (const n of active) {
    const gpus = gpusOf(n.ranks);
    const last = components[components.length - 1];
    if (last && last.gpus === gpus && last.tasks === n.ranks.length) last.nodes++;
    else components.push({ nodes: 1, gpus, tasks: n.ranks.length });
  }
  const het = components.length > 1;
  const lines = ['#!/bin/bash', `# ${c.model} on ${c.cluster}: ${c.worldSize} ranks on ${active.length} node(s), quota mode ${o.quotaMode}.`, `# Generated by mosaic export --format slurm; one mosaic launch per node spawns that node's ranks.`];
  lines.push(`#SBATCH --job-name=${o.jobName}`, '#SBATCH --output=mosaic-%j.out');
  components.forEach((comp, i) => {
    if (i > 0) lines.push('#SBATCH hetjob');
    lines.push(`#SBATCH --nodes=${comp.nodes}`, '#SBATCH --ntasks-per-node=1', `#SBATCH --cpus-per-task=${o.cpusPerNode ?? Math.max(1, comp.tasks)}`);
    if (c.device === 'gpu') lines.push(`#SBATCH --gpus-per-node=${comp.gpus}`);
  });
  lines.push('set -euo pipefail');
  lines.push(`export MASTER_ADDR=$(scontrol show hostnames "\${SLURM_JOB_NODELIST_HET_GROUP_0:-$SLURM_JOB_NODELIST}" | head -n 1)`);
  lines.push(`export MASTER_PORT=${o.masterPort}`);
  const launch = [o.mosaic, 'launch', shellQuote(o.planPath), `--quota-mode=${o.quotaMode}`, `--process-per=${c.processPer}`, '--master-addr="$MASTER_ADDR"', '--master-port="$MASTER_PORT"', '--', ...command.map(shellQuote)].join(' ');
  lines.push(`srun ${het ? `--het-group=0-${components.length - 1} ` : ''}--ntasks-per-node=1 --kill-on-bad-exit=1 ${launch}`);
  return lines.join('\n') + '\n';
}
