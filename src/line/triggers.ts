// Part triggers by station: src/stations registers each station here, and whatever takes
// triggers from outside the stations module (the review server's HTTP route) finds it here,
// so neither needs to know the other. The same for what the review UI shows of a station
// and the recipe switch it offers (StationControl).
import { NotFoundError } from '../common/errors.js';
import type { Verdict } from '../common/types.js';

/** What the PLC was told for one triggered part. */
export interface PartResult {
  stationId: string;
  partId: string;
  /** Row id of the part inspection in the store. */
  part: number;
  verdict: 'ok' | 'ng';
  /** 0 ok, 1 defect, 2 uncertain, 10 timeout (docs/stations.md). */
  resultCode: number;
  /** True when the deadline passed first: the PLC got Ng + timeout, the views' verdict comes later. */
  late: boolean;
  /** Worst of the views, when they were in by the result (undefined when late). */
  viewsVerdict?: Verdict;
  /** Inspection ids by camera, of the views in by the result. */
  views: Record<string, string>;
  triggeredAt: number;
  resultAt: number;
}

/**
 * Gives a triggered part's cameras the model's next turns for their first frames captured at
 * or after `from` (the pipeline implements it); returns a function that withdraws what no frame has taken yet.
 */
export type PrioritizeFrames = (cameraIds: readonly string[], from: number) => () => void;

/** Triggers a station for one part; resolves at its result (at the latest at the deadline). */
export type PartTrigger = (partId: string, source: string) => Promise<PartResult>;

/** A station as the review server shows it, and its recipe switch (src/stations registers every station). */
export interface StationControl {
  readonly id: string;
  readonly cameras: readonly string[];
  readonly recipes: ReadonlyArray<{ index: number; name?: string; model?: string }>;
  /** The handshake as the PLC sees it now, with the station's counters. */
  status(): StationStatus;
  /** The same switch as the PLC's RecipeSelect: between parts, recorded under `source`. */
  selectRecipe(index: number, source: string): Promise<void>;
}

/** A station's handshake as the PLC reads it (src/stations/handshake.ts keeps it). */
export interface HandshakeSignals {
  ready: boolean;
  busy: boolean;
  resultReady: boolean;
  ok: boolean;
  ng: boolean;
  error: boolean;
  resultCode: number;
  /** The part the result belongs to (echoed at the result); '' before the first. */
  partId: string;
  /** Recipe index in force (-1 without recipes). */
  recipe: number;
}

export interface StationStatus extends HandshakeSignals {
  counters: { triggers: number; refused: number; ok: number; ng: number; deadlineMisses: number; abandoned: number };
}

export interface TriggerRegistry {
  register(stationId: string, trigger: PartTrigger): () => void;
  ids(): string[];
  /** Throws NotFoundError for a station that is not registered. */
  trigger(stationId: string, partId: string, source: string): Promise<PartResult>;
  /** Every station, also those that take no HTTP trigger. */
  addControl(control: StationControl): () => void;
  controls(): StationControl[];
}

export function createTriggerRegistry(): TriggerRegistry {
  const stations = new Map<string, PartTrigger>();
  const controls = new Map<string, StationControl>();
  return {
    addControl(control) {
      controls.set(control.id, control);
      return () => {
        if (controls.get(control.id) === control) controls.delete(control.id);
      };
    },
    controls: () => [...controls.values()],
    register(stationId, trigger) {
      stations.set(stationId, trigger);
      return () => {
        if (stations.get(stationId) === trigger) stations.delete(stationId);
      };
    },
    ids: () => [...stations.keys()],
    trigger(stationId, partId, source) {
      const trigger = stations.get(stationId);
      if (!trigger) return Promise.reject(new NotFoundError(`no station "${stationId}" takes triggers here`));
      return trigger(partId, source);
    },
  };
}
