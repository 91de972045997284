// Part triggers by station: src/stations registers each station here, and whatever takes
// triggers from outside the stations module (the review server's HTTP route) finds it here,
// so neither needs to know the other.
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

export interface TriggerRegistry {
  register(stationId: string, trigger: PartTrigger): () => void;
  ids(): string[];
  /** Throws NotFoundError for a station that is not registered. */
  trigger(stationId: string, partId: string, source: string): Promise<PartResult>;
}

export function createTriggerRegistry(): TriggerRegistry {
  const stations = new Map<string, PartTrigger>();
  return {
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
