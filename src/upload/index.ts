// Blob uploads of sample images, verdicts as labels, dataset pull (in progress).
import type { AppContext, Extension } from '../app.js';

/** Returns undefined until the upload module is built. */
export function createUploadExtension(_ctx: AppContext): Extension | undefined {
  return undefined;
}
