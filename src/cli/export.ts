import { Command } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import { MosaicError } from '../errors';
import { writeFileAtomic } from '../io/atomic-write';
import { launchContract } from '../launch/contract';
import type { LaunchContract, ProcessPer } from '../spec/types';
import { defaultProcessPer, QUOTA_MODES, rankEnv, renderEnv, renderSlurm, renderTorchrun, type EnvOptions, type QuotaMode } from '../launch/export';
import { loadPlan } from '../plan/load-plan';
import type { Plan } from '../spec/plan';
import { oneOf, positiveInteger } from './options';
import { runCommand } from './run-command';

type Format = 'env' | 'torchrun' | 'slurm' | 'json';
const FORMATS: readonly Format[] = ['env', 'torchrun', 'slurm', 'json'];
export const PROCESS_PER: readonly ProcessPer[] = ['slot', 'gpu'];
export const DEFAULT_MASTER_PORT = 29500;

export function nonNegativeInteger(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new MosaicError('E_USAGE', `${flag} expects a non-negative integer but received "${value}"`);
    return n;
  };
}

/** The contract of a plan file for a quota mode; refuses MPS with several slots per process. */
export function contractFor(file: string, plan: Plan, quotaMode: QuotaMode, processPer?: ProcessPer): LaunchContract {
  const per = processPer ?? defaultProcessPer(quotaMode);
  if (quotaMode === 'mps' && per === 'gpu' && plan.gpus.some((g) => g.slots.length > 1)) {
    throw new MosaicError('E_USAGE', `${file}: --quota-mode mps needs one process per slot (MPS holds a quota per process), not --process-per gpu`);
  }
  return launchContract(plan, { processPer: per });
}

type ExportFlags = { format: Format; quotaMode: QuotaMode; processPer?: ProcessPer; masterAddr: string; masterPort: number; contract?: string; rank?: number; jobName: string; mosaic: string; cpusPerNode?: number; json?: boolean };

export function exportCommand(): Command {
  return new Command('export')
    .description("Turn a plan into what torchrun and Slurm run: the launch contract (every rank's GPU, slots, SM quota, module replicas, data-parallel groups with gradient weights, DAG edges), each rank's environment, a torchrun command per node, an sbatch script")
    .argument('<plan>', 'plan file (from `mosaic plan -o`)')
    .argument('[command...]', 'the training command each rank runs (after --), for torchrun and slurm', [])
    .option('-f, --format <format>', 'env | torchrun | slurm | json (the launch contract)', oneOf('--format', FORMATS), 'env')
    .option('--quota-mode <mode>', 'green (green contexts in the runtime) | mps (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE per process) | none', oneOf('--quota-mode', QUOTA_MODES), 'green')
    .option('--process-per <unit>', 'one process per slot or per GPU (default: gpu for green, slot for mps and none)', oneOf('--process-per', PROCESS_PER))
    .option('--master-addr <host>', 'MASTER_ADDR of rank 0', '127.0.0.1')
    .option('--master-port <port>', 'MASTER_PORT', positiveInteger('--master-port'), DEFAULT_MASTER_PORT)
    .option('--contract <file>', 'also write the contract to this file and set MOSAIC_LAUNCH to its path (default: the contract inline)')
    .option('--rank <n>', 'env: only this rank (a block you can source)', nonNegativeInteger('--rank'))
    .option('--job-name <name>', 'slurm: the job name', 'mosaic')
    .option('--mosaic <cmd>', 'slurm: how the nodes call mosaic', 'npx mosaic')
    .option('--cpus-per-node <n>', 'slurm: CPUs to request per node (default: one per rank on the node)', positiveInteger('--cpus-per-node'))
    .option('--json', 'print a machine-readable report (env: the variables per rank; torchrun: the commands; slurm: the script)')
    .addHelpText('after', `
Examples:
  $ mosaic plan -m builtin-mm -c h100-1x8 --method heuristic -o plan.json
  $ mosaic export plan.json --format json > launch.json              # the launch contract
  $ mosaic export plan.json --quota-mode mps --contract launch.json --rank 0   # source it in a shell
  $ mosaic export plan.json --contract launch.json --format torchrun -- python train.py
  $ mosaic export plan.json --format slurm -- python train.py > job.sbatch && sbatch job.sbatch

Ranks: one process per slot (what MPS needs: it holds a quota per process) or per GPU (green contexts
split one process's SMs), numbered by GPU, then slot, so a node's ranks are contiguous. Each rank gets
CUDA_VISIBLE_DEVICES, RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, MOSAIC_LAUNCH (the
contract: a path or inline JSON), MOSAIC_QUOTA_MODE and, in MPS mode, CUDA_MPS_ACTIVE_THREAD_PERCENTAGE.
python/mosaic_runtime reads them. The schema of the contract is schemas/launch.schema.json.

Exit codes: 0 ok, 1 internal error, 2 usage or invalid plan (file and problem named).`)
    .action(async (file: string, command: string[], flags: ExportFlags) => {
      await runCommand(() => {
        const plan = loadPlan(file);
        const contract = contractFor(file, plan, flags.quotaMode, flags.processPer);
        if (flags.contract) {
          fs.mkdirSync(path.dirname(path.resolve(flags.contract)), { recursive: true });
          writeFileAtomic(flags.contract, JSON.stringify(contract, null, 2) + '\n');
        }
        const env: EnvOptions = { quotaMode: flags.quotaMode, masterAddr: flags.masterAddr, masterPort: flags.masterPort, ...(flags.contract ? { contractPath: path.resolve(flags.contract) } : {}) };
        if (flags.rank !== undefined && flags.rank >= contract.worldSize) throw new MosaicError('E_USAGE', `${file}: --rank ${flags.rank} but the plan has ${contract.worldSize} ranks (0-${contract.worldSize - 1})`);
        const cmd = command.length > 0 ? command : ['python', 'train.py'];
        const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');
        switch (flags.format) {
          case 'json':
            out(JSON.stringify(contract, null, 2));
            return;
          case 'env':
            if (flags.json) out(JSON.stringify({ format: 'env', ranks: contract.ranks.filter((r) => flags.rank === undefined || r.rank === flags.rank).map((r) => ({ rank: r.rank, node: r.node, env: rankEnv(contract, r, env) })) }, null, 2));
            else out(renderEnv(contract, env, flags.rank));
            return;
          case 'torchrun': {
            const commands = renderTorchrun(contract, env, cmd);
            if (flags.json) out(JSON.stringify({ format: 'torchrun', commands }, null, 2));
            else out(commands.map((c, i) => `# node ${i}\n${c}`).join('\n'));
            return;
          }
          case 'slurm': {
            const script = renderSlurm(contract, { ...env, planPath: fs.existsSync(file) ? path.resolve(file) : file, jobName: flags.jobName, mosaic: flags.mosaic, ...(flags.cpusPerNode ? { cpusPerNode: flags.cpusPerNode } : {}) }, cmd);
            if (flags.json) out(JSON.stringify({ format: 'slurm', script }, null, 2));
            else out(script);
            return;
          }
        }
      }, flags.json);
    });
}
