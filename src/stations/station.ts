// One station: a trigger for a part takes, from each of its cameras, the first inspection of
// a frame captured at least settleMs after the trigger (never an older, buffered frame), and
// writes one aggregated verdict to the handshake by the deadline; without one by then the
// PLC gets Ng + timeout and the late verdict is stored, marked late, when it comes.
//
// The views come from the line's own inspections: the stations module never takes frames
// from the cameras itself. It only tells the pipeline a part is waiting (prioritize), so the
// cameras' first frames after trigger + settleMs take the model's next turns.
// A view is linked to its part inside the store transaction that inserts the inspection
// (store.onSave), so the link, the part's result and the outbox row commit together.
import { VisorError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { CameraState, Inspection, Verdict } from '../common/types.js';
import type { StationConfig } from '../config/schema.js';
import type { Bus } from '../line/bus.js';
import type { PartResult, PrioritizeFrames } from '../line/triggers.js';
import type { Store } from '../store/index.js';
import type { Parts } from '../store/parts.js';
import { RESULT_CODES, createHandshake, type Handshake } from './handshake.js';

export class StationBusyError extends VisorError {
  constructor(stationId: string, partId: string) {
    super('STATION_BUSY', `station ${stationId} is still inspecting part ${partId}; trigger again once it is Ready`, { retryable: true });
  }
}

export interface StationDeps {
  config: StationConfig;
  store: Pick<Store, 'onSave'>;
  parts: Parts;
  bus: Bus;
  log: Logger;
  now?: () => number;
  /** Recipe index in force (recorded with each part); -1 without recipes. */
  recipe?: () => number;
  /** Gives the part's frames the model's next turns (the pipeline's prioritize); without it they wait their turn. */
  prioritize?: PrioritizeFrames;
  /** Camera states at build time (later changes come on the bus). */
  cameraStates?: () => Array<{ cameraId: string; state: CameraState }>;
}

export interface StationCounters {
  triggers: number;
  refused: number;
  ok: number;
  ng: number;
  deadlineMisses: number;
  /** Parts whose late window closed before every camera gave a view. */
  abandoned: number;
}

export interface Station {
  readonly id: string;
  readonly handshake: Handshake;
  readonly counters: Readonly<StationCounters>;
  /** Takes the trigger for `partId`; resolves with what the PLC was told. Throws StationBusyError while a part waits for its result. */
  trigger(partId: string, source: string): Promise<PartResult>;
  /** Resolves once no part waits for its result (a recipe switch happens between parts). */
  idle(): Promise<void>;
  /** Each view once stored: a camera's inspection taken for a part (the OPC UA camera nodes). Returns the unsubscribe. */
  onView(listener: (view: StationViewEvent) => void): () => void;
  start(): void;
  stop(): void;
}

export interface StationViewEvent {
  partId: string;
  inspection: Inspection;
}

const RANK: Record<Verdict, number> = { ok: 0, uncertain: 1, defect: 2 };

interface Pending {
  row: number;
  partId: string;
  triggeredAt: number;
  /** Frames captured before this are not views of the part. */
  claimAfter: number;
  views: Map<string, Inspection>;
  result?: PartResult;
  resolve: (result: PartResult) => void;
  timers: NodeJS.Timeout[];
  /** Withdraws the part's claim on the model's next turns. */
  withdraw?: () => void;
}

export function createStation(deps: StationDeps): Station {
  const { config, parts, bus } = deps;
  const now = deps.now ?? Date.now;
  const log = deps.log.child({ module: 'stations', stationId: config.id });
  const handshake = createHandshake({ recipe: deps.recipe?.(), onListenerError: (err) => log.error({ err }, 'a handshake listener failed') });
  const counters: StationCounters = { triggers: 0, refused: 0, ok: 0, ng: 0, deadlineMisses: 0, abandoned: 0 };
  const cameras = new Set(config.cameras);
  const cameraStates = new Map<string, CameraState>(config.cameras.map((id) => [id, 'starting']));
  for (const s of deps.cameraStates?.() ?? []) if (cameraStates.has(s.cameraId)) cameraStates.set(s.cameraId, s.state);
  /** Oldest first. */
  const pending: Pending[] = [];
  let idleWaiters: Array<() => void> = [];
  const viewListeners = new Set<(view: StationViewEvent) => void>();
  let heartbeat: NodeJS.Timeout | undefined;
  const off: Array<() => void> = [];
  /** Links made by the save hook, applied once the commit returned (the bus event); dropped if it rolled back. */
  let staged: { inspectionId: string; claims: Pending[] } | undefined;

  function worst(views: Iterable<Inspection>): Verdict | undefined {
    let found: Verdict | undefined;
    for (const v of views) if (found === undefined || RANK[v.verdict] > RANK[found]) found = v.verdict;
    return found;
  }

  function outcome(verdict: Verdict): { ok: boolean; resultCode: number } {
    if (verdict === 'defect') return { ok: false, resultCode: RESULT_CODES.defect };
    if (verdict === 'uncertain') return config.uncertain === 'ok' ? { ok: true, resultCode: RESULT_CODES.ok } : { ok: false, resultCode: RESULT_CODES.uncertain };
    return { ok: true, resultCode: RESULT_CODES.ok };
  }

  const waitsForResult = (): Pending | undefined => pending.find((p) => !p.result);

  function claims(inspection: Inspection): Pending[] {
    if (!cameras.has(inspection.cameraId)) return [];
    return pending.filter((p) => !p.views.has(inspection.cameraId) && inspection.capturedAt >= p.claimAfter);
  }

  function writeResult(p: Pending, result: Omit<PartResult, 'stationId' | 'partId' | 'part' | 'triggeredAt' | 'resultAt' | 'views'>, resultAt: number): void {
    p.result = {
      stationId: config.id,
      partId: p.partId,
      part: p.row,
      triggeredAt: p.triggeredAt,
      resultAt,
      views: Object.fromEntries([...p.views].map(([camera, i]) => [camera, i.id])),
      ...result,
    };
    handshake.result({ partId: p.partId, ok: result.verdict === 'ok', resultCode: result.resultCode });
    if (result.verdict === 'ok') counters.ok++;
    else counters.ng++;
    p.resolve(p.result);
    if (!waitsForResult()) {
      for (const w of idleWaiters) w();
      idleWaiters = [];
    }
  }

  function finish(p: Pending): void {
    for (const t of p.timers) clearTimeout(t);
    p.withdraw?.();
    pending.splice(pending.indexOf(p), 1);
  }

  // Inside the transaction that inserts the inspection: link it, and the part's result and completion with it.
  function onSave(inspection: Inspection): void {
    staged = undefined;
    const claimed = claims(inspection);
    if (claimed.length === 0) return;
    const at = now();
    for (const p of claimed) {
      parts.addView(p.row, { cameraId: inspection.cameraId, inspectionId: inspection.id });
      if (p.views.size + 1 < cameras.size) continue;
      const views = [...p.views.values(), inspection];
      const verdict = worst(views)!;
      if (!p.result) {
        const { ok, resultCode } = outcome(verdict);
        parts.result(p.row, { verdict: ok ? 'ok' : 'ng', resultCode, at, late: false });
      }
      parts.complete(p.row, { viewsVerdict: verdict, at, late: p.result !== undefined });
    }
    staged = { inspectionId: inspection.id, claims: claimed };
  }

  // After the commit: the result goes to the PLC.
  function onInspection(inspection: Inspection): void {
    if (staged?.inspectionId !== inspection.id) return;
    const { claims: claimed } = staged;
    staged = undefined;
    const at = now();
    for (const p of claimed) {
      p.views.set(inspection.cameraId, inspection);
      for (const listener of viewListeners) {
        try {
          listener({ partId: p.partId, inspection });
        } catch (err) {
          log.error({ err }, 'a view listener failed');
        }
      }
      if (p.views.size < cameras.size) continue;
      const verdict = worst(p.views.values())!;
      if (p.result) {
        log.warn({ partId: p.partId, verdict, lateByMs: at - p.triggeredAt - config.deadlineMs }, 'late verdict stored; the PLC had Ng + timeout');
      } else {
        const { ok, resultCode } = outcome(verdict);
        writeResult(p, { verdict: ok ? 'ok' : 'ng', resultCode, late: false, viewsVerdict: verdict }, at);
      }
      finish(p);
    }
  }

  function deadline(p: Pending): void {
    if (p.result) return;
    const at = now();
    counters.deadlineMisses++;
    parts.result(p.row, { verdict: 'ng', resultCode: RESULT_CODES.timeout, at, late: true });
    log.warn({ partId: p.partId, views: p.views.size, of: cameras.size }, 'no verdict by the deadline: Ng + timeout');
    writeResult(p, { verdict: 'ng', resultCode: RESULT_CODES.timeout, late: true }, at);
  }

  function abandon(p: Pending): void {
    if (!pending.includes(p)) return;
    counters.abandoned++;
    parts.complete(p.row, { viewsVerdict: worst(p.views.values()) ?? null, at: now(), late: true });
    log.warn({ partId: p.partId, views: p.views.size, of: cameras.size }, 'late window closed before every camera gave a view');
    finish(p);
  }

  function updateFault(): void {
    handshake.fault([...cameraStates.values()].some((s) => s !== 'online'));
  }

  // Registered now, while the line is being built: before the hooks of the extensions built
  // after stations (IoT Hub's outbox, uploads), which read the part of a view in the same transaction.
  const removeSaveHook = deps.store.onSave(onSave);

  return {
    id: config.id,
    handshake,
    counters,
    trigger(partId, source) {
      const busy = waitsForResult();
      if (busy) {
        counters.refused++;
        return Promise.reject(new StationBusyError(config.id, busy.partId));
      }
      const triggeredAt = now();
      counters.triggers++;
      const recipe = deps.recipe?.() ?? -1;
      const row = parts.begin({ partId, stationId: config.id, source, triggeredAt, deadlineAt: triggeredAt + config.deadlineMs, recipe: recipe >= 0 ? recipe : null });
      handshake.busy();
      return new Promise<PartResult>((resolve) => {
        const claimAfter = triggeredAt + config.settleMs;
        const p: Pending = { row, partId, triggeredAt, claimAfter, views: new Map(), resolve, timers: [], withdraw: deps.prioritize?.(config.cameras, claimAfter) };
        p.timers.push(
          setTimeout(() => deadline(p), config.deadlineMs),
          setTimeout(() => abandon(p), config.lateWindowMs),
        );
        pending.push(p);
      });
    },
    idle() {
      if (!waitsForResult()) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    onView(listener) {
      viewListeners.add(listener);
      return () => viewListeners.delete(listener);
    },
    start() {
      off.push(
        bus.on('inspection', ({ inspection }) => onInspection(inspection)),
        bus.on('cameraStatus', (status) => {
          if (!cameraStates.has(status.cameraId)) return;
          cameraStates.set(status.cameraId, status.state);
          updateFault();
        }),
      );
      updateFault();
      heartbeat = setInterval(() => handshake.beat(), config.heartbeatMs);
    },
    stop() {
      clearInterval(heartbeat);
      removeSaveHook();
      for (const o of off.splice(0)) o();
      // Parts still waiting get their result now (Ng + timeout): the PLC must not wait for ever.
      for (const p of [...pending]) {
        deadline(p);
        finish(p);
      }
      handshake.fault(true);
    },
  };
}
