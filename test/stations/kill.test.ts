// What the PLC sees when Visor dies: Visor (`visor run`, a child process) is SIGKILLed; the
// Modbus heartbeat stops moving (the connection drops) and the broker publishes the last
// will "offline" for the MQTT link.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import Modbus from 'jsmodbus';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { modbusMap } from '../../src/stations/modbus.js';
import { CLI, DEMO_MODEL, FIXTURES } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';
import { freePort, startMosquitto } from './mosquitto.js';

let broker: Awaited<ReturnType<typeof startMosquitto>>;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('visor-station-kill-'));
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.stop();
  await cleanup?.();
});

it('on SIGKILL the heartbeat stops and the MQTT status turns offline', async () => {
  const port = await freePort();
  const configFile = path.join(dir, 'visor.json');
  await writeFile(
    configFile,
    JSON.stringify({
      cameras: [{ id: 'cells', source: FIXTURES, fps: 5, fullResolution: false }],
      model: { package: DEMO_MODEL },
      store: { dataDir: path.join(dir, 'data') },
      review: { enabled: false },
      stations: [{ id: 'st1', cameras: ['cells'], triggers: ['modbus', 'mqtt'], transports: ['modbus', 'mqtt'], heartbeatMs: 50 }],
      plc: { modbus: { port, host: '127.0.0.1' }, mqtt: { url: broker.url, clientId: 'visor-kill' } },
      log: { level: 'info' },
    }),
  );
  const statuses: string[] = [];
  const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'watcher' });
  watcher.on('message', (topic, payload) => topic === 'visor/stations/status' && statuses.push(payload.toString()));
  await watcher.subscribeAsync('visor/stations/status', { qos: 1 });

  const child = spawn(process.execPath, [...CLI, 'run', '--config', configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  let socket: net.Socket | undefined;
  try {
    await until('the Modbus server listening', () => out.includes('Modbus TCP server listening'), 60_000);
    socket = new net.Socket();
    // The client watches the socket's connect event: made before it connects.
    const plc = new Modbus.client.TCP(socket, 1, 1000);
    await new Promise((resolve, reject) => socket!.once('connect', resolve).once('error', reject).connect({ host: '127.0.0.1', port }));
    const closed = new Promise((resolve) => socket!.once('close', resolve));
    const heartbeat = async () => (await plc.readHoldingRegisters(modbusMap.holding.heartbeat, 1)).response.body.valuesAsArray[0]!;
    const first = await heartbeat();
    await until('the heartbeat moving', async () => (await heartbeat()) !== first, 10_000);
    await until('status online', () => statuses.at(-1) === 'online', 10_000);

    child.kill('SIGKILL');
    await exited;
    // The PLC's view: the connection is gone and no read returns a newer heartbeat.
    await closed;
    await expect(heartbeat()).rejects.toBeDefined();
    await until('the last will: offline', () => statuses.at(-1) === 'offline', 10_000);
  } finally {
    socket?.destroy();
    child.kill('SIGKILL');
    await watcher.endAsync();
  }
}, 120_000);
