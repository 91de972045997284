// Tables of src/events (versions 100–199).
import type { Migration } from './migration.js';

export const eventsMigrations: readonly Migration[] = [];
