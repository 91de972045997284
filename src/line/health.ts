// Health of the parts beyond the cameras (IoT Hub connection, upload queue, …), served at /healthz.

export interface ComponentHealth {
  /** False when the component cannot do its job right now (it may be retrying). */
  ok: boolean;
  [detail: string]: unknown;
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
