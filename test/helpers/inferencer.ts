import type { Inferencer } from '../../src/inference/index.js';

/** The real inferencer, with `before()` awaited ahead of every infer: a slow or gated model for line tests. */
export function delayedInferencer(real: Inferencer, before: () => Promise<unknown>): Inferencer {
  return {
    ...real,
    manifest: real.manifest,
    inputSize: real.inputSize,
    infer: async (image) => {
      await before();
      return real.infer(image);
    },
    close: () => real.close(),
    runRaw: (input) => real.runRaw(input),
  };
}
