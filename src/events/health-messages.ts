// Health messages (eventType=health) every events.healthIntervalSeconds: fps since the
// previous one, drops, outbox depth, camera states, the store (free space, watermark level,
// a failing save). Current state, not history: sent only while connected and never queued
// (on a full disk the outbox could not take it anyway). A change of the store's state (its
// disk level, saving starting or stopping to fail) sends one at once: the fleet hears of a
// full disk without waiting for the interval.
import type { AppContext, Extension } from '../line/extension.js';
import type { EventsExtension } from './link.js';
import { HEALTH_SCHEMA, routingProperties, type OutgoingEvent } from './message.js';

export function createHealthMessages(ctx: AppContext, events: EventsExtension): Extension {
  let lastFrames = new Map<string, { framesIn: number; at: number }>();
  const framesNow = (at: number) => new Map(ctx.cameras.map((c) => [c.id, { framesIn: c.status().framesIn, at }]));

  function healthEvent(): OutgoingEvent {
    const s = events.status();
    const at = Date.now();
    const cameras = ctx.cameras.map((c) => {
      const st = c.status();
      const prev = lastFrames.get(c.id);
      const fps = prev && at > prev.at ? ((st.framesIn - prev.framesIn) * 1000) / (at - prev.at) : null;
      return { id: c.id, state: st.state, fps, framesIn: st.framesIn, framesDropped: st.framesDropped, framesCorrupt: st.framesCorrupt, reconnects: st.reconnects };
    });
    lastFrames = framesNow(at);
    const d = ctx.store.disk.status();
    const store = { level: d.level, freeBytes: Number.isFinite(d.freeBytes) ? d.freeBytes : null, notStored: d.notStored, ...(d.saveFailure ? { failing: d.saveFailure.code } : {}), ...(d.reason ? { reason: d.reason } : {}) };
    const body = { schema: HEALTH_SCHEMA, eventType: 'health', at: new Date(at).toISOString(), software: s.software, model: s.model, cameras, outbox: s.outbox, store, eventsSent: s.eventsSent, inspected: s.inspected };
    return { messageId: `health-${at}`, body: JSON.stringify(body), properties: routingProperties('health', undefined, s.model.version) };
  }

  let timer: NodeJS.Timeout | undefined;
  let offStore: (() => void) | undefined;
  const send = () => {
    if (events.sendVolatile(healthEvent())) events.reported.soon();
  };
  return {
    name: 'events-health',
    async start() {
      lastFrames = framesNow(Date.now());
      timer = setInterval(send, ctx.config.events.healthIntervalSeconds * 1000);
      timer.unref();
      offStore = ctx.store.disk.onChange(send);
    },
    async stop() {
      clearInterval(timer);
      offStore?.();
    },
  };
}
