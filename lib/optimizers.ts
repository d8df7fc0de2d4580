// The optimizers, listed once: fit() checks `optimizer` against this list, the CLI's --optimizer flag and
// --help read it, and the native registry (native/optimizer_factory.cc, runtimeInfo().optimizers) must
// hold the same names (test/optimizers.test.ts). Each entry says what it is and which of fit()'s options it
// reads; its defaults are LibTorch's, which are PyTorch's.

export interface OptimizerDescriptor {
  /** One line for --help and the README. */
  summary: string;
  /** `momentum` when the option is left out; undefined: the optimizer has none. */
  momentum?: number;
  /** `epsilon` when the option is left out; undefined: the optimizer has none. */
  epsilon?: number;
  /** Whether it reads `rmspropAlpha`. */
  alpha?: boolean;
}

/** Every optimizer by name; the first is the default. */
export const OPTIMIZERS = {
  adam: { summary: 'Adam; weightDecay adds an L2 term to the gradient', epsilon: 1e-8 },
  adamw: { summary: 'Adam with decoupled weight decay (AdamW), the usual choice for transformers', epsilon: 1e-8 },
  sgd: { summary: 'SGD with momentum (default 0.9)', momentum: 0.9 },
  rmsprop: { summary: 'RMSprop: steps divided by a running mean of squared gradients', momentum: 0, epsilon: 1e-8, alpha: true },
  adagrad: { summary: 'Adagrad: steps divided by the sum of all squared gradients so far', epsilon: 1e-10 },
} as const satisfies Record<string, OptimizerDescriptor>;

export type Optimizer = keyof typeof OPTIMIZERS;
export const OPTIMIZER_NAMES = Object.keys(OPTIMIZERS) as Optimizer[];

export function optimizerDescriptor(name: Optimizer): OptimizerDescriptor {
  return OPTIMIZERS[name];
}

/** The optimizers that read `option`, each with its default: 'sgd 0.9, rmsprop 0' (for --help). */
export function optimizerDefaults(option: 'momentum' | 'epsilon'): string {
  return OPTIMIZER_NAMES.flatMap((name) => {
    const value = (OPTIMIZERS[name] as OptimizerDescriptor)[option];
    return value === undefined ? [] : [`${name} ${value}`];
  }).join(', ');
}
