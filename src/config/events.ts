// Config section `events` (IoT Hub), owned by src/events.
import { Type } from '@sinclair/typebox';

export const EventsDps = Type.Object(
  {
    idScope: Type.String({ minLength: 1, description: 'DPS ID scope (0ne…).' }),
    registrationId: Type.String({ minLength: 1, description: 'Registration id of this device in DPS.' }),
    symmetricKey: Type.String({
      minLength: 1,
      description: 'Symmetric key of the enrollment (secret; never logged). For a group enrollment, the key derived for this registration id.',
    }),
    globalEndpoint: Type.String({ default: 'global.azure-devices-provisioning.net', description: 'DPS global device endpoint.' }),
  },
  { additionalProperties: false, description: 'Device Provisioning Service with a symmetric key; used when `connectionString` is unset.' },
);

export const EventsSection = Type.Object(
  {
    connectionString: Type.Optional(Type.String({ description: 'IoT Hub device connection string (secret; never logged). Unset and not running under IoT Edge: events go to `localSink`.' })),
    dps: Type.Optional(EventsDps),
    transport: Type.Union([Type.Literal('mqtt'), Type.Literal('mqtt-ws'), Type.Literal('amqp')], { default: 'mqtt' }),
    outputName: Type.String({ default: 'defects', description: 'IoT Edge module output that events are sent on.' }),
    sendUncertain: Type.Boolean({ default: false, description: 'Also send uncertain inspections as events.' }),
    localSink: Type.String({ default: 'events.jsonl', description: 'JSON-lines file (under the data dir) for events when no IoT Hub is configured.' }),
    outboxMaxMessages: Type.Integer({ minimum: 1, default: 100000, description: 'Undelivered events kept at most; the oldest are dropped (counted) beyond this.' }),
    outboxMaxAgeHours: Type.Number({ exclusiveMinimum: 0, default: 168, description: 'Undelivered events older than this are dropped (counted).' }),
    maxInFlight: Type.Integer({ minimum: 1, maximum: 1000, default: 32, description: 'Events sent before their acknowledgements come back.' }),
    backoffInitialMs: Type.Integer({ minimum: 10, default: 1000, description: 'First delay after a failed send or connect; doubles on every failure (±20% jitter).' }),
    backoffMaxMs: Type.Integer({ minimum: 10, default: 60000, description: 'Cap of the retry delay.' }),
    ackTimeoutSeconds: Type.Number({
      exclusiveMinimum: 0,
      default: 30,
      description: 'A sent event not acknowledged (MQTT PUBACK) within this is resent on a new connection: a link that stalls without closing is noticed in this time, not when TCP gives up.',
    }),
    degradedOutboxAgeSeconds: Type.Number({ exclusiveMinimum: 0, default: 60, description: 'Health of `events` is degraded while the oldest undelivered event is older than this (or a send has waited longer than ackTimeoutSeconds).' }),
    degradedOutboxDepth: Type.Integer({ minimum: 1, default: 1000, description: 'Health of `events` is degraded while more events than this wait in the outbox.' }),
    healthIntervalSeconds: Type.Number({ exclusiveMinimum: 0, default: 300, description: 'Period of the health message (eventType=health).' }),
    caFile: Type.Optional(Type.String({ description: 'Extra CA certificate (PEM) trusted for the hub connection, e.g. a gateway\'s. Relative to the config file.' })),
  },
  { additionalProperties: false, default: {} },
);
