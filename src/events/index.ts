// IoT Hub events: the `events` extension (link.ts: the connection or local sink, the durable
// outbox, reported properties, status) and the extensions that work through it: metrics,
// model updates, the module twin, direct methods and cloud-to-device commands, health
// messages. The composition root builds them and hands each the link.
export { createEventsExtension, type EventsExtension, type EventsOptions, type EventsStatus, type DeliveryObserver } from './link.js';
export { createEventsMetrics } from './metrics.js';
export { createModelRollout, type ModelRollout, type ModelUpdateReport } from './model-rollout.js';
export { createTwinExtension, TwinDesired, checkDesiredProperties } from './twin.js';
export { createCommandsExtension } from './commands.js';
export { createHealthMessages } from './health-messages.js';
export { selectHubMode, isIotEdgeEnvironment } from './hub.js';
export { fetchModelPackage, ModelReference, ModelUpdateError } from './model-update.js';
export type { InspectionEventBody } from './message.js';
