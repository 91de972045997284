// IoT Hub events: durable outbox, device/module client, twin, direct methods (in progress).
import type { AppContext, Extension } from '../app.js';

/** Returns undefined until the events module is built. */
export function createEventsExtension(_ctx: AppContext): Extension | undefined {
  return undefined;
}
