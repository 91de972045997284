// Health messages (eventType=health) every events.healthIntervalSeconds: fps since the
// previous one, drops, outbox depth, camera states. Current state, not history: sent only
// while connected and never queued.
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
    const body = { schema: HEALTH_SCHEMA, eventType: 'health', at: new Date(at).toISOString(), software: s.software, model: s.model, cameras, outbox: s.outbox, eventsSent: s.eventsSent, inspected: s.inspected };
    return { messageId: `health-${at}`, body: JSON.stringify(body), properties: routingProperties('health', undefined, s.model.version) };
  }

  let timer: NodeJS.Timeout | undefined;
  return {
    name: 'events-health',
    async start() {
      lastFrames = framesNow(Date.now());
      timer = setInterval(() => {
        if (events.sendVolatile(healthEvent())) events.reported.soon();
      }, ctx.config.events.healthIntervalSeconds * 1000);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
    },
  };
}
