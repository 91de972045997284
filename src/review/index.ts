export { buildReviewServer, DEFAULT_UI_DIR, type ReviewDeps, type ModelInfo, type ThresholdControl } from './server.js';
export { createReviewExtension, type ReviewExtension } from './extension.js';
export { createUserStore, ROLES, roleAllows, type Role, type User, type UserStore } from './users.js';
export { createLiveFrames, type LiveFrames, type LiveFrameInfo } from './live.js';
export { hashPassword, verifyPassword } from './passwords.js';
