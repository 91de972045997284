export { buildReviewServer, type ReviewDeps, type ModelInfo } from './server.js';
export { createReviewExtension, type ReviewExtension } from './extension.js';
