// Tables of src/upload (versions 200–299).
import type { Migration } from './migration.js';

export const uploadMigrations: readonly Migration[] = [];
