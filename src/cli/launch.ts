import { Command } from 'commander';
import type { ProcessPer } from '../spec/types';
import { QUOTA_MODES, type QuotaMode } from '../launch/export';
import { MosaicError } from '../errors';
import { MPS_CONTROL, NodeLauncher, onPath, resolveNode } from '../launch/launcher';
import { loadPlan } from '../plan/load-plan';
import { contractFor, DEFAULT_MASTER_PORT, nonNegativeInteger, PROCESS_PER } from './export';
import { oneOf, positiveInteger } from './options';
import { runCommand } from './run-command';

type LaunchFlags = { quotaMode: QuotaMode; processPer?: ProcessPer; nodeRank?: number; masterAddr: string; masterPort: number };

export function launchCommand(): Command {
  return new Command('launch')
    .description("Run a plan's ranks on this node: spawn one process per slot (or per GPU) with its environment (GPU, rank, SM quota, the launch contract), prefix their output with the rank, forward Ctrl-C, and stop them all when one fails")
    .argument('<plan>', 'plan file (from `mosaic plan -o`)')
    .argument('<command...>', 'what each rank runs, after -- (e.g. -- python train.py)')
    .option('--quota-mode <mode>', 'green (green contexts in the runtime) | mps (starts the MPS daemon; CUDA_MPS_ACTIVE_THREAD_PERCENTAGE per rank) | none', oneOf('--quota-mode', QUOTA_MODES), 'green')
    .option('--process-per <unit>', 'one process per slot or per GPU (default: gpu for green, slot for mps and none)', oneOf('--process-per', PROCESS_PER))
    .option('--node-rank <n>', "this node's id in the plan's cluster (default: from Slurm under srun, else 0)", nonNegativeInteger('--node-rank'))
    .option('--master-addr <host>', 'MASTER_ADDR of rank 0', '127.0.0.1')
    .option('--master-port <port>', 'MASTER_PORT', positiveInteger('--master-port'), DEFAULT_MASTER_PORT)
    .addHelpText('after', `
Examples:
  $ mosaic plan -m builtin-mm -c local-cpu --method heuristic -o plan.json
  $ mosaic launch plan.json --quota-mode none -- python3 python/examples/train_builtin.py
  $ mosaic launch plan.json --quota-mode mps -- python train.py --lr 1e-4
  $ srun --ntasks-per-node=1 mosaic launch plan.json -- python train.py    # one launcher per node

Each rank gets CUDA_VISIBLE_DEVICES, RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, MOSAIC_LAUNCH
(a path to the launch contract) and MOSAIC_QUOTA_MODE; see \`mosaic export --help\`. Under srun with one
task per node the node comes from SLURM_PROCID (or SLURM_NODEID). MPS mode starts
nvidia-cuda-mps-control -d for the node and stops it (quit) at the end.

Exit codes: 0 every rank succeeded; the failing rank's code when one fails (the others are stopped and the
rank is named); 130 on Ctrl-C, 143 on SIGTERM (every rank stopped); 2 usage or invalid plan.`)
    .action(async (file: string, command: string[], flags: LaunchFlags) => {
      await runCommand(async () => {
        const plan = loadPlan(file);
        const contract = contractFor(file, plan, flags.quotaMode, flags.processPer);
        if (flags.quotaMode === 'mps') {
          if (contract.device !== 'gpu') throw new MosaicError('E_USAGE', `${file}: --quota-mode mps needs a GPU plan; ${plan.cluster.name} is a CPU cluster (use --quota-mode none)`);
          if (!onPath(MPS_CONTROL)) throw new MosaicError('E_USAGE', `--quota-mode mps needs NVIDIA's MPS control daemon (${MPS_CONTROL}), which is not on PATH; install the CUDA driver utilities or use --quota-mode green or none`);
        }
        const { node, source } = resolveNode(contract, flags.nodeRank, process.env);
        const ranks = contract.nodes[node].ranks;
        const say = (s: string) => process.stderr.write(`mosaic: ${s}\n`);
        if (ranks.length === 0) {
          say(`${file}: node ${node} hosts no rank of this plan; nothing to run`);
          return;
        }
        const launcher = new NodeLauncher({
          contract,
          node,
          quotaMode: flags.quotaMode,
          masterAddr: flags.masterAddr,
          masterPort: flags.masterPort,
          command,
          stdout: (line) => process.stdout.write(line + '\n'),
          stderr: (line) => process.stderr.write(line + '\n'),
        });
        say(`node ${node} (${source}): ranks ${ranks[0]}-${ranks[ranks.length - 1]} of ${contract.worldSize}, quota mode ${flags.quotaMode}, one process per ${contract.processPer}`);
        const onSignal = (signal: NodeJS.Signals) => launcher.interrupt(signal);
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          const outcome = await launcher.run();
          if (outcome.status === 'failed') {
            say(`${outcome.description}; stopped the other ranks`);
            process.exitCode = outcome.exitCode;
          } else if (outcome.status === 'interrupted') {
            say(`${outcome.signal}: stopped all ${ranks.length} ranks`);
            process.exitCode = outcome.exitCode;
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      });
    });
}
