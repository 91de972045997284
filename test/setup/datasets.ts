// Vitest global setup: the suite reads real datasets (datasets/index.ts). When one is missing,
// stop before any test with one line that names it and the command that gets it.
import { DatasetMissingError, TEST_DATASETS, datasetDir } from '../../datasets/index.js';

export default function checkDatasets(): void {
  for (const name of TEST_DATASETS) {
    try {
      datasetDir(name);
    } catch (err) {
      if (!(err instanceof DatasetMissingError)) throw err;
      console.error(`[visor tests] ${err.message}`);
      process.exit(1);
    }
  }
}
