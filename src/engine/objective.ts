/**
 * What a model trains on: the loss of each sink module's microbatch and the data fed each iteration.
 * The trainer (./train.ts) builds the graph and asks the objective for these; the built-in model's
 * synthetic task (./builtin-model.ts) and a replay's MSE to zero are the two objectives, so the
 * trainer names no module of any model.
 */
import type { Op } from './ops';

/** One microbatch of a sink module (a module nothing consumes), as the trainer lays it out. */
export type SinkMicrobatch = {
  readonly module: string;
  /** Microbatch index within the iteration. */
  readonly k: number;
  /** Samples per microbatch. */
  readonly micro: number;
  /** Buffer of the module's output and of its gradient (what the loss backward must fill), n elements each. */
  readonly out: number;
  readonly dOut: number;
  readonly n: number;
  /** Weight of this microbatch's gradient in the iteration's mean (micro / global). */
  readonly gradScale: number;
  /** A new zeroed buffer of n elements; its index. */
  alloc(n: number): number;
  buffer(index: number): Float32Array;
  /** The buffer holding the input data of `module` (its program's `data` buffer) for this microbatch. */
  dataOf(module: string): Float32Array;
};

export type SinkLoss = {
  readonly forward: readonly Op[];
  readonly backward: readonly Op[];
  /** A buffer whose element 0 is this microbatch's loss, when the objective reports one. */
  readonly loss?: Float32Array;
  /** Writes the iteration's data (inputs and targets) into the buffers, before the graph runs. */
  readonly fill?: (iteration: number) => void;
};

export type Objective = {
  /** Whether a sink that trains nothing still gets a loss (the built-in model reports its loss). */
  readonly lossOnFrozenSinks: boolean;
  sink(s: SinkMicrobatch): SinkLoss;
};

/** dOut = gradScale · g for the loss gradient g in `grad` (the tail of every objective's backward). */
export function scaledGradient(s: SinkMicrobatch, grad: number): Op[] {
  return [
    { op: 'fill', dst: s.dOut, n: s.n, value: 0 },
    { op: 'accumulate', src: grad, dst: s.dOut, n: s.n, alpha: s.gradScale },
  ];
}

/** A replay's objective: mean squared error of each sink output to zero (gradients of the right size and shape). */
export const MSE_TO_ZERO: Objective = {
  lossOnFrozenSinks: false,
  sink(s) {
    const tmp = s.alloc(s.n);
    const loss = s.alloc(1);
    const zero = s.alloc(s.n);
    return {
      forward: [{ op: 'mseLoss', pred: s.out, target: zero, loss, n: s.n }],
      backward: [{ op: 'mseLossBackward', pred: s.out, target: zero, dPred: tmp, n: s.n }, ...scaledGradient(s, tmp)],
    };
  },
};
