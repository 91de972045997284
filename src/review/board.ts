// The line board: per camera, what the current shift and the last hour brought (counts by
// verdict, defect rate and its trend, the last defect), with the camera's and the model's
// state and the alarms a supervisor acts on. Counted in SQL on the store's connection by id
// range (ids sort by capture time), so a board refresh stays on the primary key.
import type Database from 'better-sqlite3';
import type { CameraStatus, Verdict } from '../common/types.js';
import { idAtTime } from './queue.js';

export const HOUR_MS = 3600_000;
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

export function createBoardQueries(db: Database.Database): BoardQueries {
  const byVerdict = db.prepare<[string, string], { camera_id: string; verdict: Verdict; n: number }>(
    'SELECT camera_id, verdict, COUNT(*) AS n FROM inspections WHERE id >= ? AND id < ? GROUP BY camera_id, verdict',
  );
  const buckets = db.prepare<[number, number, string], { camera_id: string; b: number; n: number; d: number }>(
    `SELECT camera_id, (captured_at - ?) / ? AS b, COUNT(*) AS n, SUM(verdict = 'defect') AS d
     FROM inspections WHERE id >= ? GROUP BY camera_id, b`,
  );
  // The newest defect per camera: the partial index on flagged rows, newest first.
  const lastDefect = db.prepare<[string], { id: string; captured_at: number; score: number; image_path: string | null }>(
    "SELECT id, captured_at, score, image_path FROM inspections WHERE camera_id = ? AND verdict = 'defect' ORDER BY id DESC LIMIT 1",
  );

  const counted = (from: number, to: number) => {
    const out = new Map<string, Counts>();
    for (const r of byVerdict.all(idAtTime(from), idAtTime(to))) {
      const c = out.get(r.camera_id) ?? zero();
      c[r.verdict] += r.n;
      out.set(r.camera_id, c);
    }
    return out;
  };

  return {
    cameras({ now, shift, cameras, imageUrl }) {
      const upper = now + 1;
      const shiftCounts = counted(shift.start, upper);
      const lastHour = counted(now - HOUR_MS, upper);
      const hourBefore = counted(now - 2 * HOUR_MS, now - HOUR_MS);
      const bucketMs = HOUR_MS / TREND_BUCKETS;
      const from = now - HOUR_MS;
      const series = new Map<string, { n: number[]; d: number[] }>();
      for (const r of buckets.all(from, bucketMs, idAtTime(from))) {
        if (r.b < 0 || r.b >= TREND_BUCKETS) continue;
        const s = series.get(r.camera_id) ?? { n: Array(TREND_BUCKETS).fill(0), d: Array(TREND_BUCKETS).fill(0) };
        s.n[Math.floor(r.b)] += r.n;
        s.d[Math.floor(r.b)] += r.d;
        series.set(r.camera_id, s);
      }
      return cameras.map((status) => {
        const id = status.cameraId;
        const hour = lastHour.get(id) ?? zero();
        const before = hourBefore.get(id) ?? zero();
        const rate = (c: Counts) => (total(c) === 0 ? undefined : c.defect / total(c));
        const s = series.get(id);
        const last = lastDefect.get(id);
        return {
          cameraId: id,
          state: status.state,
          lastError: status.lastError,
          shift: shiftCounts.get(id) ?? zero(),
          lastHour: hour,
          defectRate: { lastHour: rate(hour), hourBefore: rate(before), trend: trend(rate(hour), rate(before)) },
          rateSeries: Array.from({ length: TREND_BUCKETS }, (_, i) => (s && s.n[i]! > 0 ? s.d[i]! / s.n[i]! : null)),
          lastDefect: last ? { id: last.id, capturedAt: last.captured_at, score: last.score, imageUrl: last.image_path ? imageUrl(last.id) : undefined } : undefined,
        };
      });
    },
  };
}
