// Direct methods, and the same commands as cloud-to-device messages: JSON
// `{ "method": …, "payload": … }`. A message that is not a valid command is rejected with its
// reason, logged and reported as `c2d.lastRejected`.
import type { AppContext, Extension } from '../line/extension.js';
import type { C2dResult } from './hub.js';
import type { EventsExtension } from './link.js';
import { createMethodHandlers } from './methods.js';
import type { ModelRollout } from './model-rollout.js';

export function createCommandsExtension(ctx: AppContext, events: EventsExtension, models: ModelRollout): Extension {
  const { log } = events;
  const methods = createMethodHandlers({
    control: ctx.control,
    pipeline: ctx.pipeline,
    cameraIds: ctx.cameras.map((c) => c.id),
    status: () => events.status(),
    reloadModel: (ref) => models.apply(ref, 'method'),
  });
  let lastRejected: { messageId: string | null; reason: string; at: string } | undefined;

  async function onC2d(message: { messageId?: string; data: Buffer }): Promise<C2dResult> {
    let reason: string | undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message.data.toString('utf8'));
    } catch {
      reason = 'body is not JSON';
    }
    if (reason === undefined) {
      const command = parsed as { method?: unknown; payload?: unknown };
      const handler = typeof command?.method === 'string' ? methods[command.method] : undefined;
      if (!handler) reason = `unknown command; send {"method": one of ${Object.keys(methods).join(', ')}, "payload": {…}}`;
      else {
        const result = await handler(command.payload);
        if (result.status >= 400) reason = `${command.method}: ${(result.payload as { error?: string }).error ?? `status ${result.status}`}`;
        else log.info({ messageId: message.messageId, method: command.method }, 'cloud-to-device command done');
      }
    }
    if (reason !== undefined) {
      lastRejected = { messageId: message.messageId ?? null, reason, at: new Date().toISOString() };
      log.warn({ messageId: message.messageId, reason }, 'cloud-to-device message rejected');
      events.reported.soon();
      return { ok: false, reason };
    }
    return { ok: true };
  }

  const removers: Array<() => void> = [];
  return {
    name: 'events-commands',
    async start() {
      removers.push(
        events.reported.section('c2d', () => ({ lastRejected: lastRejected ?? null })),
        events.handle({ methods, onC2d }),
      );
    },
    async stop() {
      for (const remove of removers.splice(0)) remove();
    },
  };
}
