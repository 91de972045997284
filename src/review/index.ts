export { buildReviewServer, type ReviewDeps, type ModelInfo } from './server.js';
