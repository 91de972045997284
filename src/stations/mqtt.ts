// MQTT v5 link: each result as a message with user properties (partId, stationId, verdict,
// resultCode) for routing, the handshake state retained, triggers, acks and recipe selections
// taken from topics, and Visor's online/offline status retained with a last will, so a
// subscriber knows when Visor is gone. Topics (prefix `plc.mqtt.topicPrefix`):
//   <prefix>/status               online | offline (retained; offline is the last will)
//   <prefix>/<station>/state      the handshake without the heartbeat (retained)
//   <prefix>/<station>/result     one message per result
//   <prefix>/<station>/trigger    in: {"partId": "…"} or the part id as plain text
//   <prefix>/<station>/ack        in: anything
//   <prefix>/<station>/recipe     in: the recipe index
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import { errorMessage } from '../common/errors.js';
import { redactText } from '../common/redact.js';
import type { HandshakeState } from './handshake.js';
import { triggerFromLink, type StationLink, type StationLinkDeps } from './link.js';

const PART_ID = /^[\x21-\x7e]([\x20-\x7e]{0,126}[\x21-\x7e])?$/;

/** The part id of a trigger message, or undefined when it carries none. */
export function partIdOf(payload: Buffer): string | undefined {
  const text = payload.toString('utf8').trim();
  let partId: unknown = text;
  if (text.startsWith('{')) {
    try {
      partId = (JSON.parse(text) as { partId?: unknown }).partId;
    } catch {
      return undefined;
    }
  }
  return typeof partId === 'string' && PART_ID.test(partId) ? partId : undefined;
}

export function createMqttLink(deps: StationLinkDeps): StationLink {
  const { config } = deps;
  const settings = config.plc.mqtt;
  const log = deps.log.child({ module: 'stations', link: 'mqtt' });
  const prefix = settings.topicPrefix.replace(/\/+$/, '');
  const own = config.stations.filter((s) => s.triggers.includes('mqtt') || s.transports.includes('mqtt'));
  const statusTopic = `${prefix}/status`;
  let client: MqttClient | undefined;
  let lastError: string | undefined;
  let published = 0;
  let refused = 0;
  const off: Array<() => void> = [];
  const qos = { qos: settings.qos } as const;

  const publish = (topic: string, body: string, options: IClientPublishOptions = {}): void => {
    client?.publish(topic, body, { ...qos, ...options }, (err) => {
      if (err) {
        lastError = errorMessage(err);
        log.warn({ err, topic }, 'MQTT publish failed');
      } else published++;
    });
  };
  const stateBody = (state: Readonly<HandshakeState>) => {
    const { heartbeat: _heartbeat, ...rest } = state;
    return JSON.stringify(rest);
  };

  function announce(): void {
    publish(statusTopic, 'online', { retain: true });
    for (const s of own) publish(`${prefix}/${s.id}/state`, stateBody(deps.stations.find((st) => st.id === s.id)!.handshake.state), { retain: true });
  }

  function onMessage(topic: string, payload: Buffer): void {
    const [stationId, kind, ...rest] = topic.slice(prefix.length + 1).split('/');
    const stationConfig = own.find((s) => s.id === stationId);
    const station = deps.stations.find((s) => s.id === stationId);
    if (!stationConfig || !station || rest.length > 0) return;
    if (kind === 'trigger' && stationConfig.triggers.includes('mqtt')) {
      const partId = partIdOf(payload);
      if (partId === undefined) {
        refused++;
        log.warn({ topic, stationId }, 'trigger message without a valid partId (JSON {"partId": "…"} or plain text, 1–128 printable characters); ignored');
        return;
      }
      triggerFromLink(station, partId, 'mqtt', log);
    } else if (kind === 'ack') {
      station.handshake.ack();
    } else if (kind === 'recipe') {
      const index = Number(payload.toString('utf8').trim());
      if (!Number.isInteger(index)) {
        refused++;
        log.warn({ topic, stationId }, 'recipe message is not an integer index; ignored');
        return;
      }
      deps.recipes.select(station.id, index, 'mqtt').catch(() => {});
    }
  }

  return {
    name: 'mqtt',
    get address() {
      return settings.url === undefined ? undefined : redactText(settings.url);
    },
    async start() {
      const c = mqtt.connect(settings.url!, {
        protocolVersion: 5,
        clientId: settings.clientId,
        username: settings.username,
        password: settings.password,
        reconnectPeriod: 1000,
        will: { topic: statusTopic, payload: Buffer.from('offline'), qos: settings.qos, retain: true },
      });
      client = c;
      c.on('message', (topic, payload) => onMessage(topic, payload));
      c.on('error', (err) => {
        lastError = redactText(errorMessage(err));
        log.warn({ detail: lastError }, 'MQTT error');
      });
      // On every (re)connect: announce and subscribe again (a broker without a session forgets both).
      c.on('connect', () => {
        lastError = undefined;
        announce();
        const topics = own.flatMap((s) => ['ack', 'recipe', ...(s.triggers.includes('mqtt') ? ['trigger'] : [])].map((k) => `${prefix}/${s.id}/${k}`));
        c.subscribe(topics, qos, (err) => {
          if (err) log.warn({ err }, 'MQTT subscribe failed');
        });
      });
      for (const s of own) {
        const station = deps.stations.find((st) => st.id === s.id)!;
        off.push(
          station.handshake.subscribe((state, changed) => {
            if (changed.size === 1 && changed.has('heartbeat')) return;
            if (changed.has('resultReady') && state.resultReady && s.transports.includes('mqtt')) {
              const properties = { stationId: s.id, partId: state.partId, verdict: state.ok ? 'ok' : 'ng', resultCode: String(state.resultCode) };
              publish(`${prefix}/${s.id}/result`, JSON.stringify({ ...properties, resultCode: state.resultCode, ok: state.ok, ng: state.ng, at: new Date().toISOString() }), {
                properties: { contentType: 'application/json', userProperties: properties },
              });
            }
            publish(`${prefix}/${s.id}/state`, stateBody(state), { retain: true });
          }),
        );
      }
      // Wait for the first connection only briefly: the client keeps trying in the background.
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(done, 5000);
        c.once('connect', done);
      });
      log.info({ url: redactText(settings.url!), connected: c.connected, stations: own.map((s) => s.id) }, 'MQTT link started');
    },
    async stop() {
      for (const o of off.splice(0)) o();
      const c = client;
      client = undefined;
      if (!c) return;
      if (c.connected) await c.publishAsync(statusTopic, 'offline', { ...qos, retain: true }).catch(() => {});
      await c.endAsync();
    },
    health() {
      return { ok: client?.connected === true, url: settings.url === undefined ? undefined : redactText(settings.url), published, refused, ...(lastError ? { lastError } : {}) };
    },
  };
}
