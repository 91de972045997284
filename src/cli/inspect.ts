import path from 'node:path';
import { createInferencer, decide, imageFromFile, loadModelPackage } from '../inference/index.js';
import { createLogger } from '../common/log.js';
import { errorMessage } from '../common/errors.js';

export async function inspectCommand(images: string[], options: { model: string; threads: number }): Promise<void> {
  const log = createLogger({ level: 'warn', destination: process.stderr });
  const inferencer = await createInferencer({ pkg: await loadModelPackage(path.resolve(options.model)), threads: options.threads, log });
  const { manifest } = inferencer;
  let failed = 0;
  try {
    for (const file of images) {
      try {
        const image = await imageFromFile(file);
        const result = await inferencer.infer(image);
        const verdict = decide(result.output.score, manifest.thresholds);
        const line = {
          file,
          verdict,
          score: result.output.score,
          classes: result.output.classes,
          boxes: result.output.boxes,
          model: { name: manifest.name, version: manifest.version },
          thresholds: { defect: manifest.thresholds.defect, uncertainBand: manifest.thresholds.uncertainBand },
          timings: { preprocessMs: result.preprocessMs, inferenceMs: result.inferenceMs, postprocessMs: result.postprocessMs },
        };
        process.stdout.write(`${JSON.stringify(line)}\n`);
      } catch (err) {
        failed++;
        process.stdout.write(`${JSON.stringify({ file, error: errorMessage(err) })}\n`);
      }
    }
  } finally {
    await inferencer.close();
  }
  if (failed > 0) process.exitCode = 1;
}
