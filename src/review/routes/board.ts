// The line board (/api/board): per camera the current shift's and the last hour's counts, the
// defect rate and its trend, the last defect, and the alarms (camera offline, disk, IoT Hub, uploads).
import { statfsSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import type { Alarm } from '../board.js';
import { currentShift } from '../board.js';
import type { ReviewContext } from '../context.js';

/** Free space below this fraction of the data folder's file system raises the disk alarm. */
const DISK_FREE_ALARM = 0.05;
/** Stored images above this fraction of store.maxDiskMb raise it too (retention then deletes the oldest). */
const QUOTA_ALARM = 0.9;
/** The store's figures are summed over every image row: read them at most this often. */
const DISK_CHECK_MS = 10_000;

export const boardRoutes: FastifyPluginAsync<ReviewContext> = async (app, ctx) => {
  let disk: { at: number; alarms: Alarm[] } | undefined;
  const diskAlarms = (now: number): Alarm[] => {
    if (disk && now - disk.at < DISK_CHECK_MS) return disk.alarms;
    const alarms: Alarm[] = [];
    try {
      const fs = statfsSync(ctx.store.dataDir);
      const free = fs.bavail / fs.blocks;
      if (free < DISK_FREE_ALARM) alarms.push({ kind: 'disk', message: `disk ${(free * 100).toFixed(1)} % free (${((fs.bavail * fs.bsize) / 1e9).toFixed(1)} GB)` });
    } catch (err) {
      alarms.push({ kind: 'disk', message: `cannot read the data folder's disk: ${(err as Error).message}` });
    }
    const stats = ctx.store.stats();
    if (ctx.diskQuotaMb !== undefined && stats.imageBytes > QUOTA_ALARM * ctx.diskQuotaMb * 1024 * 1024)
      alarms.push({ kind: 'disk', message: `images use ${Math.round((100 * stats.imageBytes) / (ctx.diskQuotaMb * 1024 * 1024))} % of store.maxDiskMb; the oldest are being deleted` });
    if (stats.imageWriteErrors > 0) alarms.push({ kind: 'disk', message: `${stats.imageWriteErrors} images could not be written since start (inspections stored without them)` });
    disk = { at: now, alarms };
    return alarms;
  };

  app.get('/api/board', { config: { access: 'operator' } }, async () => {
    const now = (ctx.now ?? Date.now)();
    const shift = currentShift(now, ctx.config.shifts);
    const statuses = ctx.cameras();
    const cameras = ctx.board.cameras({ now, shift, cameras: statuses, imageUrl: (id) => `/api/inspections/${id}/image` });
    const alarms: Alarm[] = [];
    for (const c of statuses)
      if (c.state !== 'online') alarms.push({ kind: 'camera', cameraId: c.cameraId, message: `camera ${c.cameraId} ${c.state}${c.lastError ? `: ${c.lastError}` : ''}` });
    alarms.push(...diskAlarms(now));
    const components = ctx.components?.() ?? {};
    const hub = components.events;
    if (hub && !hub.ok) alarms.push({ kind: 'hub', message: `IoT Hub ${String(hub.connection ?? 'not connected')}${hub.lastError ? `: ${String(hub.lastError)}` : ''}; events wait in the outbox (${String(hub.outboxDepth ?? '?')})` });
    const upload = components.upload;
    if (upload && !upload.ok) alarms.push({ kind: 'upload', message: `uploads waiting (${String(upload.queueDepth ?? '?')})${upload.lastError ? `: ${String(upload.lastError)}` : ''}` });
    return { now, shift, model: ctx.model(), cameras, alarms };
  });
};
