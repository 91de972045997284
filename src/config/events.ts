// Config section `events` (IoT Hub), owned by src/events.
import { Type } from '@sinclair/typebox';

export const EventsSection = Type.Object(
  {
    connectionString: Type.Optional(Type.String({ description: 'IoT Hub device connection string (secret; never logged). Unset and not running under IoT Edge: events go to `localSink`.' })),
    transport: Type.Union([Type.Literal('mqtt'), Type.Literal('mqtt-ws'), Type.Literal('amqp')], { default: 'mqtt' }),
    outputName: Type.String({ default: 'defects', description: 'IoT Edge module output that events are sent on.' }),
    sendUncertain: Type.Boolean({ default: false, description: 'Also send uncertain inspections as events.' }),
    localSink: Type.String({ default: 'events.jsonl', description: 'JSON-lines file (under the data dir) for events when no IoT Hub is configured.' }),
    outboxMaxMessages: Type.Integer({ minimum: 1, default: 100000 }),
    outboxMaxAgeHours: Type.Number({ exclusiveMinimum: 0, default: 168 }),
    healthIntervalSeconds: Type.Number({ exclusiveMinimum: 0, default: 300 }),
  },
  { additionalProperties: false, default: {} },
);
