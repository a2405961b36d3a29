import type { ModuleStage, ModuleTraffic, PlanReplica } from '../spec/plan';
import type { Simulation } from './simulate';
import type { LinkKind } from './sync';

const LINK_ORDER: readonly LinkKind[] = ['none', 'intra-node', 'inter-node'];
const slowest = (a: LinkKind, b: LinkKind): LinkKind => (LINK_ORDER.indexOf(b) > LINK_ORDER.indexOf(a) ? b : a);

/**
 * Where each module's iteration goes, from one simulation: compute (its busiest replica's forward,
 * backward and optimizer time), its gradient all-reduce (the links' time over all its buckets, bytes,
 * link), the activations and activation gradients it sends to other GPUs, and idle (the iteration less
 * compute and the part of the all-reduce that runs after the last backward).
 * The one source for `plan`, `compare`, `score`, `show` and the JSON prediction.
 */
export function moduleBreakdown(order: readonly string[], sim: Simulation, replicas: readonly PlanReplica[]): ModuleStage[] {
  return order.map((module) => {
    const computeMs = sim.moduleBusyMs.get(module) ?? 0;
    let allReduce: ModuleTraffic = { ms: 0, bytes: 0, link: 'none' };
    let exposedMs = 0;
    const sent = { ms: 0, bytes: 0, link: 'none' as LinkKind };
    for (const c of sim.communication) {
      if (c.module !== module) continue;
      if (c.kind === 'all-reduce') {
        exposedMs = c.exposedMs ?? c.endMs - c.startMs;
        allReduce = { ms: sim.syncMs.get(module) ?? 0, bytes: c.bytes, link: c.link, buckets: c.buckets ?? 1, exposedMs };
      }
      else {
        sent.ms += c.endMs - c.startMs;
        sent.bytes += c.bytes;
        sent.link = slowest(sent.link, c.link);
      }
    }
    return {
      module,
      busyMs: computeMs,
      replicas: replicas.filter((r) => r.module === module).length,
      computeMs,
      idleMs: Math.max(0, sim.iterationMs - computeMs - exposedMs),
      communication: { allReduce, activations: sent },
    };
  });
}

/** The link's name in text: NVLink inside a GPU node, shared memory inside a CPU node. */
export function linkName(link: LinkKind, device: 'gpu' | 'cpu' | string): string {
  if (link === 'none') return '-';
  if (link === 'inter-node') return 'inter-node';
  return device === 'gpu' ? 'NVLink' : 'intra-node';
}

/** The link in a sentence: "over NVLink", "over the links between nodes". */
export function overLink(link: LinkKind, device: 'gpu' | 'cpu' | string): string {
  if (link === 'none') return 'on one GPU';
  return link === 'inter-node' ? 'over the links between nodes' : `over ${device === 'gpu' ? 'NVLink' : 'the links inside a node'}`;
}

/** Bytes in the unit that reads best (B, KB, MB, GB; powers of 10). */
export function fmtBytes(bytes: number): string {
  if (bytes <= 0) return '0';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = bytes;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}
