/**
 * Spawns one node's ranks of a launch contract with their environment, prefixes every output line with
 * its rank, and stops them all together: when one rank fails, or when the launcher is interrupted.
 * Library code: it never exits the process; the CLI (src/cli/launch.ts) maps the outcome to a status.
 *
 * Each rank runs in its own process group (so a `sh -c` wrapper and its children stop together);
 * stopping sends the signal to every group, then SIGKILL to whatever is left after `graceMs`.
 */

import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MosaicError } from '../errors';
import type { LaunchContract, LaunchRank } from '../spec/types';
import { rankEnv, type QuotaMode } from './export';

export type LaunchNodeOptions = {
  readonly contract: LaunchContract;
  /** Cluster node id whose ranks this launcher spawns. */
  readonly node: number;
  readonly quotaMode: QuotaMode;
  readonly masterAddr: string;
  readonly masterPort: number;
  readonly command: readonly string[];
  /** Where each rank's prefixed lines go. */
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
  /** Base environment of the ranks (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Time between the stop signal and SIGKILL. */
  readonly graceMs?: number;
};

export type LaunchOutcome =
  | { readonly status: 'ok'; readonly ranks: number }
  | { readonly status: 'failed'; readonly rank: LaunchRank; readonly exitCode: number; readonly description: string }
  | { readonly status: 'interrupted'; readonly signal: NodeJS.Signals; readonly exitCode: number };

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGABRT: 6 };

/** The first executable of that name on PATH, or undefined. */
export function onPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

export const MPS_CONTROL = 'nvidia-cuda-mps-control';

/**
 * The node this launcher runs: an explicit --node-rank, else Slurm's (one task per node: SLURM_PROCID
 * counts the job's nodes that host ranks, in order; otherwise SLURM_NODEID), else node 0.
 */
export function resolveNode(contract: LaunchContract, explicit: number | undefined, env: NodeJS.ProcessEnv): { node: number; source: string } {
  const active = contract.nodes.filter((n) => n.ranks.length > 0).map((n) => n.node);
  if (explicit !== undefined) {
    if (explicit >= contract.nodes.length) throw new MosaicError('E_USAGE', `--node-rank ${explicit} but the plan's cluster has ${contract.nodes.length} node(s)`);
    return { node: explicit, source: '--node-rank' };
  }
  const procId = env.SLURM_PROCID !== undefined ? Number(env.SLURM_PROCID) : undefined;
  const nTasks = env.SLURM_NTASKS !== undefined ? Number(env.SLURM_NTASKS) : undefined;
  if (procId !== undefined && nTasks === active.length && Number.isInteger(procId) && procId < active.length) return { node: active[procId], source: `SLURM_PROCID=${procId}` };
  if (env.SLURM_NODEID !== undefined) {
    const id = Number(env.SLURM_NODEID);
    if (!Number.isInteger(id) || id < 0 || id >= active.length) throw new MosaicError('E_USAGE', `SLURM_NODEID=${env.SLURM_NODEID} but the plan runs on ${active.length} node(s)`);
    return { node: active[id], source: `SLURM_NODEID=${id}` };
  }
  return { node: 0, source: 'default' };
}

export class NodeLauncher {
  /** Process groups of the ranks whose process or output is still open (a rank's leader may exit before its children). */
  private readonly groups = new Set<number>();
  private stopping: { signal: NodeJS.Signals; failure?: Extract<LaunchOutcome, { status: 'failed' }> } | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private workDir: string | undefined;
  private mpsEnv: NodeJS.ProcessEnv | undefined;

  constructor(private readonly o: LaunchNodeOptions) {}

  /** Ranks of this node. */
  get ranks(): LaunchRank[] {
    return this.o.contract.nodes[this.o.node].ranks.map((r) => this.o.contract.ranks[r]);
  }

  /** Spawns the ranks and resolves once every one has exited. */
  async run(): Promise<LaunchOutcome> {
    const base = this.o.env ?? process.env;
    this.workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosaic-launch-'));
    const contractPath = path.join(this.workDir, 'launch.json');
    fs.writeFileSync(contractPath, JSON.stringify(this.o.contract, null, 2) + '\n');
    try {
      if (this.o.quotaMode === 'mps' && this.o.contract.device === 'gpu') this.startMps(base);
      const exits = this.ranks.map((rank) => this.spawnRank(rank, { ...base, ...this.mpsEnv, ...rankEnv(this.o.contract, rank, { quotaMode: this.o.quotaMode, masterAddr: this.o.masterAddr, masterPort: this.o.masterPort, contractPath }) }));
      await Promise.all(exits);
    } finally {
      if (this.killTimer) clearTimeout(this.killTimer);
      this.stopMps();
      fs.rmSync(this.workDir, { recursive: true, force: true });
    }
    const s = this.stopping;
    if (!s) return { status: 'ok', ranks: this.ranks.length };
    if (s.failure) return s.failure;
    return { status: 'interrupted', signal: s.signal, exitCode: 128 + (SIGNAL_NUMBERS[s.signal] ?? 15) };
  }

  /** Forward a signal (SIGINT, SIGTERM) to every rank and stop them all; SIGKILL after the grace time. */
  interrupt(signal: NodeJS.Signals): void {
    if (this.stopping) {
      // A second Ctrl-C: kill now.
      this.killAll('SIGKILL');
      return;
    }
    this.stopping = { signal };
    this.stopAll(signal);
  }

  private stopAll(signal: NodeJS.Signals): void {
    this.killAll(signal);
    this.killTimer = setTimeout(() => this.killAll('SIGKILL'), this.o.graceMs ?? 2000);
    this.killTimer.unref();
  }

  private killAll(signal: NodeJS.Signals): void {
    for (const pgid of this.groups) this.signalGroup(pgid, signal);
  }

  private signalGroup(pgid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(-pgid, signal);
    } catch {
      // already gone
    }
  }

  private spawnRank(rank: LaunchRank, env: NodeJS.ProcessEnv): Promise<void> {
    const [cmd, ...args] = this.o.command;
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid !== undefined) this.groups.add(child.pid);
    const prefix = `[rank ${rank.rank}] `;
    const pump = (stream: NodeJS.ReadableStream, write: (line: string) => void) => {
      let buffered = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          write(prefix + buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
        }
      });
      return new Promise<void>((resolve) => stream.on('end', () => {
        if (buffered) write(prefix + buffered);
        resolve();
      }));
    };
    const out = pump(child.stdout!, this.o.stdout);
    const err = pump(child.stderr!, this.o.stderr);
    const exited = new Promise<void>((resolve) => {
      child.on('error', (e: NodeJS.ErrnoException) => {
        this.o.stderr(`${prefix}cannot start ${cmd}: ${e.code === 'ENOENT' ? 'no such command' : e.message}`);
        this.onExit(rank, 127, null);
        resolve();
      });
      child.on('exit', (code, signal) => {
        this.onExit(rank, code, signal);
        resolve();
      });
    });
    // A rank whose process has exited but left a child holding its output open (a daemon, a stray
    // background job) must not keep the launcher waiting: after the grace time its group is killed.
    const drained = exited.then(() => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (child.pid !== undefined) this.signalGroup(child.pid, 'SIGKILL');
          resolve();
        }, this.o.graceMs ?? 2000);
      });
      return Promise.race([Promise.all([out, err]), late]).finally(() => clearTimeout(timer));
    });
    return drained.then(() => {
      if (child.pid !== undefined) this.groups.delete(child.pid);
    });
  }

  private onExit(rank: LaunchRank, code: number | null, signal: NodeJS.Signals | null): void {
    if (code === 0 || this.stopping) return;
    const exitCode = code ?? 128 + (SIGNAL_NUMBERS[signal ?? 'SIGTERM'] ?? 15);
    const description = `rank ${rank.rank} (node ${rank.node}, GPU ${rank.gpu}, ${rank.slots.map((s) => `${s.id} [${s.modules.join(', ')}]`).join('; ')}) ${code !== null ? `exited with code ${code}` : `was killed by ${signal}`}`;
    this.stopping = { signal: 'SIGTERM', failure: { status: 'failed', rank, exitCode, description } };
    this.stopAll('SIGTERM');
  }

  /** Starts the node's MPS control daemon with its pipe and log folders under the work folder. */
  private startMps(base: NodeJS.ProcessEnv): void {
    const bin = onPath(MPS_CONTROL, base);
    if (!bin) throw new MosaicError('E_USAGE', `--quota-mode mps needs NVIDIA's MPS control daemon (${MPS_CONTROL}), which is not on PATH; install the CUDA driver utilities or use --quota-mode green or none`);
    const pipeDir = path.join(this.workDir!, 'mps-pipe');
    const logDir = path.join(this.workDir!, 'mps-log');
    fs.mkdirSync(pipeDir);
    fs.mkdirSync(logDir);
    this.mpsEnv = { CUDA_MPS_PIPE_DIRECTORY: pipeDir, CUDA_MPS_LOG_DIRECTORY: logDir };
    const r = spawnSync(bin, ['-d'], { env: { ...base, ...this.mpsEnv }, encoding: 'utf8' });
    if (r.status !== 0) {
      this.mpsEnv = undefined;
      throw new MosaicError('E_INTERNAL', `${MPS_CONTROL} -d failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout || '').trim().split('\n')[0] ?? ''}`);
    }
  }

  private stopMps(): void {
    if (!this.mpsEnv) return;
    spawnSync(onPath(MPS_CONTROL, this.o.env ?? process.env)!, [], { input: 'quit\n', env: { ...(this.o.env ?? process.env), ...this.mpsEnv }, encoding: 'utf8', timeout: 10_000 });
    this.mpsEnv = undefined;
  }
}
