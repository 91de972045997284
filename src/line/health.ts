// Health of the parts beyond the cameras (IoT Hub connection, upload queue, store, …), served
// at /healthz, and the one rule that turns cameras and components into the line's status.
import type { CameraStatus } from '../common/types.js';

export interface ComponentHealth {
  /** False when the component cannot do its job right now (it may be retrying): the line is degraded. */
  ok: boolean;
  /** True when it has been down beyond its bound (the store cannot save, …): the line is failing and /healthz answers 503. */
  failing?: boolean;
  /** Why it is not ok, for people (signed-in views, logs). */
  reason?: string;
  [detail: string]: unknown;
}

/** ok: all well; degraded: working with something down (still 200); failing: a supervisor should act (503). */
export type HealthStatus = 'ok' | 'degraded' | 'failing';

/**
 * The line's status: failing when a component says so or a camera is offline (failed
 * watchdog.offlineAfterFailures attempts in a row), degraded when a camera is not online or a
 * component is not ok, else ok; with a reason per part that is not ok.
 */
export function lineStatus(cameras: Pick<CameraStatus, 'cameraId' | 'state' | 'lastError'>[], components: Record<string, ComponentHealth>): { status: HealthStatus; reasons: string[] } {
  let status: HealthStatus = 'ok';
  const reasons: string[] = [];
  const worsen = (to: HealthStatus) => {
    if (to === 'failing' || (to === 'degraded' && status === 'ok')) status = to;
  };
  for (const c of cameras) {
    if (c.state === 'online') continue;
    worsen(c.state === 'offline' ? 'failing' : 'degraded');
    reasons.push(`camera ${c.cameraId} ${c.state}${c.lastError ? `: ${c.lastError}` : ''}`);
  }
  for (const [name, c] of Object.entries(components)) {
    if (c.ok && !c.failing) continue;
    worsen(c.failing ? 'failing' : 'degraded');
    reasons.push(`${name}${c.failing ? ' failing' : ' degraded'}${typeof c.reason === 'string' ? `: ${c.reason}` : typeof c.lastError === 'string' ? `: ${c.lastError}` : ''}`);
  }
  return { status, reasons };
}

export interface HealthRegistry {
  /** Registers a component's health check; called at every /healthz request. */
  add(name: string, check: () => ComponentHealth): void;
  report(): Record<string, ComponentHealth>;
}

export function createHealthRegistry(): HealthRegistry {
  const checks = new Map<string, () => ComponentHealth>();
  return {
    add(name, check) {
      checks.set(name, check);
    },
    report() {
      const out: Record<string, ComponentHealth> = {};
      for (const [name, check] of checks) {
        try {
          out[name] = check();
        } catch (err) {
          out[name] = { ok: false, error: err instanceof Error ? err.message : String(err) };
        }
      }
      return out;
    },
  };
}
