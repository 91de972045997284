/// <reference lib="dom" />
// The UI's only way to the server: JSON over fetch with the session's CSRF token, and one
// EventSource for live updates.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The server's error code (e.g. CONFIRM, OUT_OF_BOUNDS). */
    readonly code = '',
    /** Per field, a sentence saying what is wrong (shown next to the field). */
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The sentences for the fields a form has, and the rest as one message (for a line above the form). */
export function formErrors(err: unknown, fieldNames: readonly string[]): { fields: Record<string, string>; message: string } {
  if (!(err instanceof ApiError)) return { fields: {}, message: (err as Error).message };
  const fields: Record<string, string> = {};
  const rest: string[] = [];
  for (const [name, text] of Object.entries(err.fields)) {
    const key = name.split('.').pop()!;
    if (fieldNames.includes(key)) fields[key] = text;
    else rest.push(text);
  }
  return { fields, message: Object.keys(err.fields).length === 0 ? err.message : rest.join(' ') };
}

let csrf = '';
let onUnauthorized: () => void = () => {};

export function setSession(token: string | undefined, unauthorized: () => void): void {
  csrf = token ?? '';
  onUnauthorized = unauthorized;
}

export async function api<T>(url: string, options: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  const res = await fetch(url, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), credentials: 'same-origin' });
  if (res.status === 401 && !url.startsWith('/api/auth/')) onUnauthorized();
  if (res.status === 204) return undefined as T;
  const data = (await res.json().catch(() => ({}))) as { error?: string; code?: string; fields?: Record<string, string> };
  if (!res.ok) throw new ApiError(res.status, data.error ?? `${res.status} ${res.statusText}`, data.code, data.fields);
  return data as T;
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

type Listener = (data: unknown) => void;
const listeners = new Map<string, Set<Listener>>();
let source: EventSource | undefined;

/** Subscribes to a server event; the stream opens on first use and reconnects by itself. */
export function onServerEvent<T>(event: string, listener: (data: T) => void): () => void {
  if (!source) {
    source = new EventSource('/api/events');
    for (const name of ['inspection', 'review', 'frame', 'cameraStatus', 'thresholds']) {
      source.addEventListener(name, (e) => {
        const data = JSON.parse((e as MessageEvent<string>).data) as unknown;
        for (const l of listeners.get(name) ?? []) l(data);
      });
    }
    source.addEventListener('open', () => {
      for (const l of listeners.get('open') ?? []) l(undefined);
    });
  }
  let set = listeners.get(event);
  if (!set) listeners.set(event, (set = new Set()));
  set.add(listener as Listener);
  return () => set.delete(listener as Listener);
}

export function closeServerEvents(): void {
  source?.close();
  source = undefined;
}
