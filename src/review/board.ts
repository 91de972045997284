// The line board: per camera, what the current shift and the last hour brought (counts by
// verdict, defect rate and its trend, the last defect), with the camera's and the model's
// state and the alarms a supervisor acts on. Counted in SQL on the store's connection by id
// range (ids sort by capture time, so the primary key serves it), per minute, cached.
import type Database from 'better-sqlite3';
import type { CameraStatus, Verdict } from '../common/types.js';
import { idAtTime } from './queue.js';

/** The last hour is drawn as this many bars of the defect rate. */
export const TREND_BUCKETS = 12;

export type Counts = Record<Verdict, number>;

export interface BoardCamera {
  cameraId: string;
  state: CameraStatus['state'];
  lastError?: string;
  shift: Counts;
  lastHour: Counts;
  /** Defects per inspection in the last hour and the hour before (undefined without inspections). */
  defectRate: { lastHour?: number; hourBefore?: number; trend: 'up' | 'down' | 'flat' | 'none' };
  /** Defect rate per 5-minute bucket of the last hour, oldest first (null: no inspection). */
  rateSeries: (number | null)[];
  lastDefect?: { id: string; capturedAt: number; score: number; imageUrl?: string };
}

export interface Alarm {
  kind: 'camera' | 'disk' | 'hub' | 'upload';
  cameraId?: string;
  message: string;
}

export interface Shift {
  /** "06:00" */
  name: string;
  start: number;
  end: number;
}

/** The shift `now` falls in, from the configured local start times ("HH:MM"). */
export function currentShift(now: number, starts: readonly string[]): Shift {
  const minutes = starts.map((s) => {
    const [h, m] = s.split(':').map(Number) as [number, number];
    return { name: s, h, m };
  });
  const at = (day: Date, s: { h: number; m: number }) => new Date(day.getFullYear(), day.getMonth(), day.getDate(), s.h, s.m).getTime();
  const today = new Date(now);
  const candidates: { name: string; start: number }[] = [];
  for (const offset of [-1, 0, 1]) {
    const day = new Date(today.getFullYear(), today.getMonth(), today.getDate() + offset);
    for (const s of minutes) candidates.push({ name: s.name, start: at(day, s) });
  }
  candidates.sort((a, b) => a.start - b.start);
  let i = 0;
  while (candidates[i + 1]!.start <= now) i++;
  return { name: candidates[i]!.name, start: candidates[i]!.start, end: candidates[i + 1]!.start };
}

const zero = (): Counts => ({ ok: 0, uncertain: 0, defect: 0 });
const total = (c: Counts) => c.ok + c.uncertain + c.defect;

/** Relative change of the defect rate beyond which the trend is up or down. */
const TREND_TOLERANCE = 0.1;

function trend(now?: number, before?: number): BoardCamera['defectRate']['trend'] {
  if (now === undefined || before === undefined) return 'none';
  const scale = Math.max(now, before, 1e-9);
  if (Math.abs(now - before) / scale <= TREND_TOLERANCE) return 'flat';
  return now > before ? 'up' : 'down';
}

export interface BoardQueries {
  cameras(input: { now: number; shift: Shift; cameras: CameraStatus[]; imageUrl: (id: string) => string }): BoardCamera[];
}

const MINUTE = 60_000;
/** Minutes older than this are taken as complete: an inspection is stored well within it of its capture. */
const SETTLE_MINUTES = 2;

type MinuteCounts = Map<string, Counts>;

/**
 * Counts per camera and verdict are kept per minute of capture time: a minute older than
 * SETTLE_MINUTES is read from SQL once, the last minutes at every refresh, so a refresh reads
 * a couple of minutes of rows however long the shift (an 8-hour shift at 20 frames a second
 * is over half a million rows). An inspection stored more than that after its capture is
 * counted from the next start.
 */
export function createBoardQueries(db: Database.Database): BoardQueries {
  const perMinute = db.prepare<[number, number, string, string], { camera_id: string; m: number; verdict: Verdict; n: number }>(
    // Bounded on both sides by id (ids sort by capture time): the primary key, not a camera index.
    'SELECT camera_id, (captured_at - ?) / ? AS m, verdict, COUNT(*) AS n FROM inspections WHERE id >= ? AND id < ? GROUP BY +camera_id, m, verdict',
  );
  // The newest defect per camera: the partial index on flagged rows, newest first.
  const lastDefect = db.prepare<[string], { id: string; captured_at: number; score: number; image_path: string | null }>(
    "SELECT id, captured_at, score, image_path FROM inspections WHERE camera_id = ? AND verdict <> 'ok' AND verdict = 'defect' ORDER BY id DESC LIMIT 1",
  );
  const settled = new Map<number, MinuteCounts>();
  let settledFrom = Infinity;
  let settledTo = -Infinity;

  /** Counts per minute in [from, to) (minute numbers), read from SQL. */
  function read(from: number, to: number, into: Map<number, MinuteCounts>): void {
    if (to <= from) return;
    for (const r of perMinute.all(from * MINUTE, MINUTE, idAtTime(from * MINUTE), idAtTime(to * MINUTE))) {
      const m = from + Math.floor(r.m);
      let byCamera = into.get(m);
      if (!byCamera) into.set(m, (byCamera = new Map()));
      const c = byCamera.get(r.camera_id) ?? zero();
      c[r.verdict] += r.n;
      byCamera.set(r.camera_id, c);
    }
  }

  /** Every minute in [from, now]: the settled ones from the cache (filled up as needed), the last ones fresh. */
  function minutes(from: number, now: number): (m: number) => MinuteCounts | undefined {
    const nowMinute = Math.floor(now / MINUTE);
    const settle = nowMinute - SETTLE_MINUTES + 1;
    if (from < settledFrom || settledTo < from) {
      settled.clear();
      read(from, settle, settled);
      [settledFrom, settledTo] = [from, Math.max(from, settle)];
    } else if (settle > settledTo) {
      read(settledTo, settle, settled);
      settledTo = settle;
    }
    for (const m of settled.keys()) if (m < from) settled.delete(m);
    settledFrom = Math.max(settledFrom, from);
    const fresh = new Map<number, MinuteCounts>();
    read(settledTo, nowMinute + 1, fresh);
    return (m) => (m < settledTo ? settled.get(m) : fresh.get(m));
  }

  return {
    cameras({ now, shift, cameras, imageUrl }) {
      const nowMinute = Math.floor(now / MINUTE);
      // The last hour: the 60 minutes before the current one, and the current one so far.
      const hourFrom = nowMinute - 60;
      const shiftFrom = Math.floor(shift.start / MINUTE);
      const at = minutes(Math.min(shiftFrom, hourFrom - 60), now);
      const sum = (camera: string, from: number, to: number) => {
        const c = zero();
        for (let m = from; m < to; m++) {
          const x = at(m)?.get(camera);
          if (x) for (const v of ['ok', 'uncertain', 'defect'] as const) c[v] += x[v];
        }
        return c;
      };
      const rate = (c: Counts) => (total(c) === 0 ? undefined : c.defect / total(c));
      const bucket = 60 / TREND_BUCKETS;
      return cameras.map((status) => {
        const id = status.cameraId;
        const hour = sum(id, hourFrom, nowMinute + 1);
        const before = sum(id, hourFrom - 60, hourFrom);
        const last = lastDefect.get(id);
        return {
          cameraId: id,
          state: status.state,
          lastError: status.lastError,
          shift: sum(id, shiftFrom, nowMinute + 1),
          lastHour: hour,
          defectRate: { lastHour: rate(hour), hourBefore: rate(before), trend: trend(rate(hour), rate(before)) },
          rateSeries: Array.from({ length: TREND_BUCKETS }, (_, i) => rate(sum(id, hourFrom + 1 + i * bucket, hourFrom + 1 + (i + 1) * bucket)) ?? null),
          lastDefect: last ? { id: last.id, capturedAt: last.captured_at, score: last.score, imageUrl: last.image_path ? imageUrl(last.id) : undefined } : undefined,
        };
      });
    },
  };
}
