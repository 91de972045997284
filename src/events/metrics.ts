// Prometheus metrics of the events: sent, dropped by the outbox bounds (counted in SQLite, so
// the totals of earlier runs are added at start), failed sends, outbox depth.
import { Counter, Gauge } from 'prom-client';
import type { AppContext, Extension } from '../line/extension.js';
import type { EventsExtension } from './link.js';

export function createEventsMetrics(ctx: AppContext, events: EventsExtension): Extension {
  const registers = [ctx.metrics.registry];
  const sent = new Counter({ name: 'visor_events_sent_total', help: 'Events acknowledged by IoT Hub (or written to the local sink).', registers });
  const dropped = new Counter({
    name: 'visor_events_dropped_total',
    help: 'Undelivered events dropped by the outbox bounds (overflow: outboxMaxMessages; age: outboxMaxAgeHours).',
    labelNames: ['reason'],
    registers,
  });
  const failed = new Counter({ name: 'visor_events_send_failures_total', help: 'Event sends that were not acknowledged (they are retried).', registers });
  new Gauge({
    name: 'visor_events_outbox_depth',
    help: 'Events waiting in the outbox.',
    registers,
    collect() {
      this.set(events.outbox.depth());
    },
  });
  let off: (() => void) | undefined;

  return {
    name: 'events-metrics',
    async start() {
      // Drops of earlier runs, so the metric matches the reported totals.
      const earlier = events.outbox.dropped();
      for (const reason of ['overflow', 'age'] as const) if (earlier[reason] > 0) dropped.inc({ reason }, earlier[reason]);
      off = events.observe({
        sent: (n) => sent.inc(n),
        sendFailed: () => failed.inc(),
        dropped: (reason, n) => dropped.inc({ reason }, n),
      });
    },
    async stop() {
      off?.();
    },
  };
}
