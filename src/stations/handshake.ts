// The handshake a PLC program sees for one station, independent of the link that carries it
// (OPC UA, Modbus TCP, MQTT): every transport writes this state and feeds triggers and acks
// back. The rules (docs/stations.md#the-handshake):
//   trigger → Busy (Ready, ResultReady, Ok, Ng low) → result: ResultReady with Ok or Ng, the
//   result code and the part id echoed, Busy low → the PLC's Ack clears ResultReady, Ok and Ng
//   → Ready again. Error is high while the station cannot inspect (a camera of it not online,
//   Visor stopping); Ready needs it low. The heartbeat counter goes up while Visor runs.

import type { HandshakeSignals } from '../line/triggers.js';

/** Result codes: 0 is the only one that means Ok. */
export const RESULT_CODES = {
  ok: 0,
  defect: 1,
  uncertain: 2,
  timeout: 10,
} as const;

/** Counters wrap here, so every link (Modbus registers are 16 bits) shows the same number. */
export const COUNTER_WRAP = 65536;

/** The signals (src/line/triggers.ts, shown by the review UI too), the heartbeat and the count of results never acknowledged. */
export interface HandshakeState extends HandshakeSignals {
  heartbeat: number;
  /** Results overwritten before the PLC acknowledged them (wraps at 65536). */
  unacknowledged: number;
}

export type HandshakeListener = (state: Readonly<HandshakeState>, changed: ReadonlySet<keyof HandshakeState>) => void;

export interface Handshake {
  readonly state: Readonly<HandshakeState>;
  /** A part was triggered. */
  busy(): void;
  /** The result for a part: Ok or Ng with its code, ResultReady high, Busy low. */
  result(result: { partId: string; ok: boolean; resultCode: number }): void;
  /** The PLC acknowledged the result. */
  ack(): void;
  /** The station cannot inspect (true) or can again (false). */
  fault(on: boolean): void;
  recipe(index: number): void;
  /** One heartbeat: the counter goes up by one. */
  beat(): void;
  /** Every change, with the names of the fields that changed. Returns the unsubscribe. */
  subscribe(listener: HandshakeListener): () => void;
}

export function createHandshake(options: { recipe?: number; onListenerError?: (err: unknown) => void } = {}): Handshake {
  const state: HandshakeState = {
    ready: false,
    busy: false,
    resultReady: false,
    ok: false,
    ng: false,
    error: false,
    resultCode: 0,
    partId: '',
    heartbeat: 0,
    recipe: options.recipe ?? -1,
    unacknowledged: 0,
  };
  const listeners = new Set<HandshakeListener>();

  function set(next: Partial<HandshakeState>): void {
    const merged = { ...state, ...next };
    merged.ready = !merged.busy && !merged.resultReady && !merged.error;
    const changed = new Set<keyof HandshakeState>();
    for (const key of Object.keys(merged) as Array<keyof HandshakeState>) {
      if (merged[key] !== state[key]) changed.add(key);
    }
    if (changed.size === 0) return;
    Object.assign(state, merged);
    for (const listener of listeners) {
      try {
        listener(state, changed);
      } catch (err) {
        options.onListenerError?.(err);
      }
    }
  }

  return {
    state,
    busy() {
      const overwritten = state.resultReady ? 1 : 0;
      set({ busy: true, resultReady: false, ok: false, ng: false, unacknowledged: (state.unacknowledged + overwritten) % COUNTER_WRAP });
    },
    result({ partId, ok, resultCode }) {
      set({ busy: false, resultReady: true, ok, ng: !ok, resultCode, partId });
    },
    ack() {
      if (state.resultReady) set({ resultReady: false, ok: false, ng: false });
    },
    fault(on) {
      set({ error: on });
    },
    recipe(index) {
      set({ recipe: index });
    },
    beat() {
      set({ heartbeat: (state.heartbeat + 1) % COUNTER_WRAP });
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
