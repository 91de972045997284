// Trigger-to-result latency of a station, per PLC link, with the shipped model on a folder
// camera, beside the model's own time in the same run (the goal: p99 ≤ model time + 25 ms),
// and the deadline misses. Figures per link:
//   visor: trigger taken → result written to the handshake (what the links then carry),
//          split into frameWait (trigger → the view's frame captured: up to one frame
//          interval, 1000/--fps ms) and frameToResult (that frame → result written)
//   plc:   the PLC-side client's trigger sent → result seen (HTTP response, MQTT result
//          message, Modbus/OPC UA ResultReady read back by polling every --pollMs)
// --others N adds N untriggered cameras that inspect continuously beside the station's (the
// model is shared: a triggered frame must not wait behind their turns).
//   npx tsx bench/stations.ts [--triggers 1000] [--rate 5] [--fps 30] [--links http,modbus,opcua,mqtt] [--pollMs 2] [--others 0]
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Modbus from 'jsmodbus';
import mqtt from 'mqtt';
import { AttributeIds, DataType, MessageSecurityMode, OPCUAClient, SecurityPolicy } from 'node-opcua-client';
import { createApp } from '../src/app.js';
import { silentLogger } from '../src/common/log.js';
import type { Inspection } from '../src/common/types.js';
import { parseConfig } from '../src/config/index.js';
import type { PartResult } from '../src/line/triggers.js';
import { createReviewExtension, createUserStore } from '../src/review/index.js';
import { createStationsExtension, type StationsExtension } from '../src/stations/index.js';
import { modbusMap, MODBUS_BLOCK } from '../src/stations/modbus.js';
import { opcuaNodeId } from '../src/stations/opcua.js';
import { tempDir } from '../test/helpers/temp.js';
import { until } from '../test/helpers/wait.js';
import { startMosquitto } from '../test/stations/mosquitto.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, fallback: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1]! : fallback);
const triggers = Number(arg('triggers', '1000'));
const rate = Number(arg('rate', '5'));
const fps = Number(arg('fps', '30'));
const pollMs = Number(arg('pollMs', '2'));
const others = Number(arg('others', '0'));
const links = arg('links', 'http,modbus,opcua,mqtt').split(',') as Array<'http' | 'modbus' | 'opcua' | 'mqtt'>;
const DEADLINE_MS = 150;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number) => Number(x.toFixed(1));
function summary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const q = (p: number) => round(s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN);
  return { p50: q(0.5), p99: q(0.99), max: round(s.at(-1) ?? NaN), n: s.length };
}

/** One PLC-side client per link: trigger part `n`, resolve when the result is seen, then acknowledge it. */
type Plc = { trigger(n: number): Promise<void>; close(): Promise<void> };

async function main(): Promise<void> {
  const { dir, cleanup } = await tempDir('visor-bench-stations-');
  const broker = links.includes('mqtt') ? await startMosquitto() : undefined;
  const stationIds = links.map((l) => `st-${l}`);
  const config = parseConfig({
    cameras: ['cells', ...Array.from({ length: others }, (_, i) => `other${i + 1}`)].map((id) => ({ id, source: path.join(REPO, 'test/fixtures/elpv'), fps, loop: true, fullResolution: false })),
    model: { package: path.join(REPO, 'models/elpv-cells'), threads: 1 },
    store: { dataDir: path.join(dir, 'data'), okSampleFraction: 0 },
    review: { port: 0 },
    stations: links.map((l) => ({ id: `st-${l}`, cameras: ['cells'], deadlineMs: DEADLINE_MS, triggers: [l], transports: l === 'http' ? [] : [l] })),
    plc: { modbus: { port: 0, host: '127.0.0.1' }, opcua: { port: 0, host: '127.0.0.1' }, mqtt: { url: broker?.url ?? 'mqtt://127.0.0.1:1', clientId: 'visor-bench' } },
    log: { level: 'silent' },
  });
  const app = await createApp({ config, baseDir: dir, log: silentLogger(), extensions: [createReviewExtension, createStationsExtension] });
  const users = createUserStore({ db: app.store.db });
  await users.add({ name: 'bench', role: 'operator', password: 'bench-password' });
  const token = users.createToken('bench', 'bench').token;
  const modelMs: number[] = [];
  const inspections = new Map<string, Inspection>();
  app.bus.on('inspection', ({ inspection }) => {
    inspections.set(inspection.id, inspection);
    if (inspections.size > 5000) inspections.delete(inspections.keys().next().value!);
  });
  await app.start();
  const ext = app.extensions.find((e) => e.name === 'stations') as StationsExtension;
  await until('stations ready', () => ext.stations.every((s) => s.handshake.state.ready), 60_000);
  const address = (name: string) => ext.links.find((l) => l.name === name)!.address!;
  const visorMs = new Map<string, number[]>();
  const frameWaitMs = new Map<string, number[]>();
  const frameToResultMs = new Map<string, number[]>();
  for (const s of ext.stations) {
    visorMs.set(s.id, []);
    frameWaitMs.set(s.id, []);
    frameToResultMs.set(s.id, []);
    s.handshake.subscribe((state, changed) => {
      if (!changed.has('resultReady') || !state.resultReady) return;
      const [part] = ext.parts.list({ stationId: s.id, limit: 1 });
      if (!part?.resultAt) return;
      visorMs.get(s.id)!.push(part.resultAt - part.triggeredAt);
      const view = part.views.map((v) => inspections.get(v.inspectionId)).find((x) => x !== undefined);
      if (!view) return;
      frameWaitMs.get(s.id)!.push(view.capturedAt - part.triggeredAt);
      frameToResultMs.get(s.id)!.push(part.resultAt - view.capturedAt);
    });
  }

  async function plcFor(link: string, stationId: string): Promise<Plc> {
    const base = config.stations.findIndex((s) => s.id === stationId) * MODBUS_BLOCK;
    if (link === 'http') {
      return {
        async trigger(n) {
          const res = await fetch(`${app.reviewUrl}/api/stations/${stationId}/trigger`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ partId: String(n) }) });
          const body = (await res.json()) as PartResult;
          if (body.partId !== String(n)) throw new Error(`HTTP trigger ${n} answered ${JSON.stringify(body)}`);
        },
        async close() {},
      };
    }
    if (link === 'modbus') {
      const socket = new net.Socket();
      const client = new Modbus.client.TCP(socket, 1, 2000);
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject).connect({ host: '127.0.0.1', port: Number(address('modbus').split(':')[1]) }));
      return {
        async trigger(n) {
          await client.writeMultipleRegisters(base + modbusMap.holding.partIdHigh, [Math.floor(n / 65536), n % 65536]);
          await client.writeSingleCoil(base + modbusMap.coils.trigger, true);
          for (;;) {
            const bits = (await client.readCoils(base + modbusMap.coils.resultReady, 1)).response.body.valuesAsArray;
            if (bits[0] === 1) break;
            await sleep(pollMs);
          }
          await client.writeSingleCoil(base + modbusMap.coils.ack, true);
        },
        async close() {
          socket.destroy();
        },
      };
    }
    if (link === 'opcua') {
      const client = OPCUAClient.create({ endpointMustExist: false, securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None });
      await client.connect(address('opcua'));
      const session = await client.createSession();
      const write = (tag: string, dataType: DataType, value: unknown) => session.write({ nodeId: opcuaNodeId(stationId, tag), attributeId: AttributeIds.Value, value: { value: { dataType, value } } });
      return {
        async trigger(n) {
          await write('PartId', DataType.String, String(n));
          await write('Trigger', DataType.Boolean, true);
          while ((await session.read({ nodeId: opcuaNodeId(stationId, 'ResultReady'), attributeId: AttributeIds.Value })).value.value !== true) await sleep(pollMs);
          await write('Ack', DataType.Boolean, true);
        },
        async close() {
          await session.close();
          await client.disconnect();
        },
      };
    }
    const client = await mqtt.connectAsync(broker!.url, { protocolVersion: 5, clientId: 'bench-plc' });
    const waiting = new Map<string, () => void>();
    client.on('message', (_topic, payload) => {
      const { partId } = JSON.parse(payload.toString()) as { partId: string };
      waiting.get(partId)?.();
    });
    await client.subscribeAsync(`visor/stations/${stationId}/result`, { qos: 1 });
    return {
      async trigger(n) {
        const seen = new Promise<void>((resolve) => waiting.set(String(n), resolve));
        await client.publishAsync(`visor/stations/${stationId}/trigger`, String(n), { qos: 1 });
        await seen;
        waiting.delete(String(n));
        await client.publishAsync(`visor/stations/${stationId}/ack`, '1', { qos: 1 });
      },
      async close() {
        await client.endAsync();
      },
    };
  }

  const results: Record<string, unknown> = {};
  for (const [i, link] of links.entries()) {
    const stationId = stationIds[i]!;
    const station = ext.stations.find((s) => s.id === stationId)!;
    const plc = await plcFor(link, stationId);
    const plcMs: number[] = [];
    const intervalMs = 1000 / rate;
    const start = performance.now();
    for (let n = 1; n <= triggers; n++) {
      const due = start + (n - 1) * intervalMs;
      if (performance.now() < due) await sleep(due - performance.now());
      const t0 = performance.now();
      await plc.trigger(n);
      plcMs.push(performance.now() - t0);
    }
    await plc.close();
    // The model's own time for this link's views: preprocess + session.run + postprocess.
    const own = ext.parts.list({ stationId, limit: 500 }).flatMap((p) => p.views.map((v) => inspections.get(v.inspectionId)).filter((x): x is Inspection => x !== undefined));
    for (const v of own) modelMs.push(v.timings.preprocessMs + v.timings.inferenceMs + v.timings.postprocessMs);
    results[link] = {
      visorMs: summary(visorMs.get(stationId)!),
      frameWaitMs: summary(frameWaitMs.get(stationId)!),
      frameToResultMs: summary(frameToResultMs.get(stationId)!),
      plcMs: summary(plcMs),
      deadlineMisses: station.counters.deadlineMisses,
      refused: station.counters.refused,
      modelMs: summary(own.map((v) => v.timings.preprocessMs + v.timings.inferenceMs + v.timings.postprocessMs)),
    };
    console.log(JSON.stringify({ link, ...(results[link] as object) }));
  }
  console.log(
    JSON.stringify(
      { triggers, ratePerSecond: rate, cameraFps: fps, otherCameras: others, deadlineMs: DEADLINE_MS, pollMs, modelMsAll: summary(modelMs), links: results },
      null,
      2,
    ),
  );
  await app.stop();
  await broker?.stop();
  await cleanup();
}

await main();
