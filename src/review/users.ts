// Users, sessions, API tokens and the audit log of the review UI (tables from src/store/schema/review.ts).
import { createHash, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { VisorError } from '../common/errors.js';
import { DUMMY_HASH, MIN_PASSWORD_LENGTH, hashPassword, verifyPassword } from './passwords.js';

export const ROLES = ['operator', 'engineer', 'admin'] as const;
export type Role = (typeof ROLES)[number];
/** operator: review; engineer: also thresholds and settings; admin: also users, tokens and models. */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export const USER_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$';
const USER_NAME = new RegExp(USER_NAME_PATTERN);
export const API_TOKEN_PREFIX = 'visor_';

export interface User {
  id: number;
  name: string;
  role: Role;
  createdAt: number;
  disabled: boolean;
}

/** Who is making a request, and how they proved it. */
export interface Principal {
  user: User;
  via: 'session' | 'token';
  /** For sessions: the token state-changing requests must echo in X-CSRF-Token. */
  csrf?: string;
}

export class AuthError extends VisorError {
  readonly statusCode: number;
  constructor(code: string, message: string, statusCode: number) {
    super(code, message);
    this.statusCode = statusCode;
  }
}

interface UserRow {
  id: number;
  name: string;
  role: Role;
  password_hash: string;
  created_at: number;
  disabled_at: number | null;
}

export interface AuditEntry {
  id: number;
  at: number;
  user: string;
  action: string;
  target: string | null;
  detail: unknown;
}

export interface UserStore {
  count(): number;
  list(): User[];
  get(name: string): User | undefined;
  add(input: { name: string; role: Role; password: string }): Promise<User>;
  update(name: string, input: { role?: Role; password?: string; disabled?: boolean }): Promise<User>;
  /** The user if the password matches and the user is enabled; constant work either way. */
  checkPassword(name: string, password: string): Promise<User | undefined>;
  createSession(user: User, ttlMs: number): { token: string; csrf: string; expiresAt: number };
  session(token: string): Principal | undefined;
  endSession(token: string): void;
  createToken(userName: string, label: string): { id: number; token: string };
  listTokens(): { id: number; user: string; label: string; createdAt: number; lastUsedAt: number | null; revoked: boolean }[];
  revokeToken(id: number): boolean;
  apiToken(token: string): Principal | undefined;
  audit(entry: { user: string; action: string; target?: string; detail?: unknown }): void;
  auditLog(limit: number, before?: number): AuditEntry[];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function toUser(r: UserRow): User {
  return { id: r.id, name: r.name, role: r.role, createdAt: r.created_at, disabled: r.disabled_at !== null };
}

function checkName(name: string): void {
  if (!USER_NAME.test(name)) throw new AuthError('BAD_USER_NAME', 'user name: letters, digits, ".", "_", "@", "-"; at most 64 characters', 400);
}
function checkPasswordRules(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw new AuthError('WEAK_PASSWORD', `password: at least ${MIN_PASSWORD_LENGTH} characters`, 400);
  if (password.length > 1024) throw new AuthError('BAD_PASSWORD', 'password: at most 1024 characters', 400);
}

export function createUserStore(deps: { db: Database.Database; now?: () => number }): UserStore {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const q = {
    count: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM users WHERE disabled_at IS NULL'),
    list: db.prepare<[], UserRow>('SELECT * FROM users ORDER BY name'),
    byName: db.prepare<[string], UserRow>('SELECT * FROM users WHERE name = ?'),
    insert: db.prepare('INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)'),
    insertSession: db.prepare('INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
    session: db.prepare<[string, number], UserRow & { csrf: string }>(
      'SELECT u.*, s.csrf FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL',
    ),
    deleteSession: db.prepare('DELETE FROM sessions WHERE token_hash = ?'),
    deleteUserSessions: db.prepare('DELETE FROM sessions WHERE user_id = ?'),
    expireSessions: db.prepare('DELETE FROM sessions WHERE expires_at <= ?'),
    insertToken: db.prepare('INSERT INTO api_tokens (user_id, label, token_hash, created_at) VALUES (?, ?, ?, ?)'),
    token: db.prepare<[string], UserRow & { token_id: number }>(
      'SELECT u.*, t.id AS token_id FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.disabled_at IS NULL',
    ),
    touchToken: db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?'),
    listTokens: db.prepare<[], { id: number; user: string; label: string; created_at: number; last_used_at: number | null; revoked_at: number | null }>(
      'SELECT t.id, u.name AS user, t.label, t.created_at, t.last_used_at, t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id',
    ),
    revokeToken: db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    audit: db.prepare('INSERT INTO audit (at, user, action, target, detail) VALUES (?, ?, ?, ?, ?)'),
    auditLog: db.prepare<[number, number], { id: number; at: number; user: string; action: string; target: string | null; detail: string | null }>(
      'SELECT * FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?',
    ),
  };
  let lastExpiry = 0;

  const store: UserStore = {
    count: () => q.count.get()!.n,
    list: () => q.list.all().map(toUser),
    get(name) {
      const row = q.byName.get(name);
      return row && toUser(row);
    },
    async add({ name, role, password }) {
      checkName(name);
      checkPasswordRules(password);
      if (!ROLES.includes(role)) throw new AuthError('BAD_ROLE', `role: one of ${ROLES.join(', ')}`, 400);
      if (q.byName.get(name)) throw new AuthError('USER_EXISTS', `user "${name}" already exists`, 409);
      const hash = await hashPassword(password);
      try {
        q.insert.run(name, role, hash, now());
      } catch (err) {
        if (String((err as { code?: string }).code).startsWith('SQLITE_CONSTRAINT')) throw new AuthError('USER_EXISTS', `user "${name}" already exists`, 409);
        throw err;
      }
      return toUser(q.byName.get(name)!);
    },
    async update(name, input) {
      const row = q.byName.get(name);
      if (!row) throw new AuthError('NOT_FOUND', `no user "${name}"`, 404);
      if (input.role !== undefined && !ROLES.includes(input.role)) throw new AuthError('BAD_ROLE', `role: one of ${ROLES.join(', ')}`, 400);
      let hash: string | undefined;
      if (input.password !== undefined) {
        checkPasswordRules(input.password);
        hash = await hashPassword(input.password);
      }
      db.transaction(() => {
        if (input.role !== undefined) db.prepare('UPDATE users SET role = ? WHERE id = ?').run(input.role, row.id);
        if (hash !== undefined) db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(hash, row.id);
        if (input.disabled !== undefined) db.prepare('UPDATE users SET disabled_at = ? WHERE id = ?').run(input.disabled ? now() : null, row.id);
        // A changed password, role or a disabled account ends every open session of that user.
        q.deleteUserSessions.run(row.id);
      })();
      return toUser(q.byName.get(name)!);
    },
    async checkPassword(name, password) {
      const row = USER_NAME.test(name) ? q.byName.get(name) : undefined;
      const ok = await verifyPassword(password, row?.password_hash ?? DUMMY_HASH);
      return ok && row && row.disabled_at === null ? toUser(row) : undefined;
    },
    createSession(user, ttlMs) {
      const t = now();
      if (t - lastExpiry > 60_000) {
        q.expireSessions.run(t);
        lastExpiry = t;
      }
      const token = randomBytes(32).toString('base64url');
      const csrf = randomBytes(24).toString('base64url');
      const expiresAt = t + ttlMs;
      q.insertSession.run(sha256(token), user.id, csrf, t, expiresAt);
      return { token, csrf, expiresAt };
    },
    session(token) {
      const row = q.session.get(sha256(token), now());
      return row && { user: toUser(row), via: 'session', csrf: row.csrf };
    },
    endSession(token) {
      q.deleteSession.run(sha256(token));
    },
    createToken(userName, label) {
      const row = q.byName.get(userName);
      if (!row) throw new AuthError('NOT_FOUND', `no user "${userName}"`, 404);
      const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
      const info = q.insertToken.run(row.id, label, sha256(token), now());
      return { id: Number(info.lastInsertRowid), token };
    },
    listTokens: () =>
      q.listTokens.all().map((t) => ({ id: t.id, user: t.user, label: t.label, createdAt: t.created_at, lastUsedAt: t.last_used_at, revoked: t.revoked_at !== null })),
    revokeToken: (id) => q.revokeToken.run(now(), id).changes > 0,
    apiToken(token) {
      if (!token.startsWith(API_TOKEN_PREFIX)) return undefined;
      const row = q.token.get(sha256(token));
      if (!row) return undefined;
      q.touchToken.run(now(), row.token_id);
      return { user: toUser(row), via: 'token' };
    },
    audit({ user, action, target, detail }) {
      q.audit.run(now(), user, action, target ?? null, detail === undefined ? null : JSON.stringify(detail));
    },
    auditLog(limit, before) {
      return q.auditLog.all(before ?? Number.MAX_SAFE_INTEGER, limit).map((r) => ({ ...r, detail: r.detail === null ? null : (JSON.parse(r.detail) as unknown) }));
    },
  };
  return store;
}
