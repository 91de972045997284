// MQTT v5 against Debian's mosquitto: a subscriber (the PLC or an IoT Operations broker
// bridge) triggers over a topic and gets the result with user properties.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/wait.js';
import { startStationLine, type StationLine } from './helpers.js';
import { startMosquitto } from './mosquitto.js';

interface Received {
  topic: string;
  body: string;
  userProperties?: Record<string, string | string[]>;
  retain: boolean;
}

describe('MQTT v5', () => {
  let broker: Awaited<ReturnType<typeof startMosquitto>>;
  let line: StationLine;
  let plc: MqttClient;
  const received: Received[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    line = await startStationLine({
      review: false,
      stations: [{ id: 'st1', cameras: ['cells'], deadlineMs: 5000, triggers: ['mqtt'], transports: ['mqtt'] }],
      plc: { mqtt: { url: broker.url, clientId: 'visor-test' } },
    });
    plc = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'plc' });
    plc.on('message', (topic, payload, packet) => received.push({ topic, body: payload.toString(), userProperties: packet.properties?.userProperties, retain: packet.retain }));
    await plc.subscribeAsync('visor/stations/#', { qos: 1 });
  }, 60_000);
  afterAll(async () => {
    await plc?.endAsync();
    await line?.stop();
    await broker?.stop();
  });

  it('announces Visor online and the station state, retained', async () => {
    await until('status and state', () => received.some((m) => m.topic === 'visor/stations/status') && received.some((m) => m.topic === 'visor/stations/st1/state'));
    const status = received.find((m) => m.topic === 'visor/stations/status')!;
    expect(status).toMatchObject({ body: 'online', retain: true });
    const state = JSON.parse(received.filter((m) => m.topic === 'visor/stations/st1/state').at(-1)!.body) as Record<string, unknown>;
    expect(state).toMatchObject({ ready: true, busy: false, error: false });
  });

  it('takes a trigger message and publishes the result with user properties; an ack message clears ResultReady', async () => {
    await plc.publishAsync('visor/stations/st1/trigger', JSON.stringify({ partId: 'MQ-42' }), { qos: 1 });
    const result = await until('the result', () => received.find((m) => m.topic === 'visor/stations/st1/result'), 15_000);
    const body = JSON.parse(result.body) as { partId: string; verdict: string; resultCode: number };
    expect(body.partId).toBe('MQ-42');
    expect(result.userProperties).toEqual({ stationId: 'st1', partId: 'MQ-42', verdict: body.verdict, resultCode: String(body.resultCode) });
    const [stored] = line.stations.parts.list({ partId: 'MQ-42' });
    expect(stored).toMatchObject({ source: 'mqtt', verdict: body.verdict, resultCode: body.resultCode });

    await plc.publishAsync('visor/stations/st1/ack', '1', { qos: 1 });
    const lastState = () => JSON.parse(received.filter((m) => m.topic === 'visor/stations/st1/state').at(-1)!.body) as Record<string, unknown>;
    await until('the state with ResultReady cleared', () => lastState().ready === true, 10_000);
    expect(lastState()).toMatchObject({ resultReady: false, ready: true, partId: 'MQ-42' });
    expect(line.stations.stations[0]!.handshake.state.ready).toBe(true);
  });

  it('ignores a trigger message without a usable part id, and says why in health', async () => {
    const before = line.stations.parts.list().length;
    await plc.publishAsync('visor/stations/st1/trigger', JSON.stringify({ part: 'x' }), { qos: 1 });
    await until('refused counted', () => (line.stations.links[0]!.health().refused as number) >= 1);
    expect(line.stations.parts.list()).toHaveLength(before);
  });
});
