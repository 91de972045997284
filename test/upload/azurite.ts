// Azurite (the Blob Storage emulator from npm) on a free port, with its data in a temp folder
// so a stop and restart on the same port keeps the blobs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { REPO } from '../helpers/paths.js';

/** Azurite's well-known development account (public, documented by Microsoft). */
export const ACCOUNT = 'devstoreaccount1';
export const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  port: number;
  /** http://127.0.0.1:PORT/devstoreaccount1 */
  accountUrl: string;
  connectionString: string;
  container(name: string): ContainerClient;
  stop(): Promise<void>;
  /** Starts again on the same port with the same data (after stop(); no-op while running). */
  start(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
  /** Stops and removes the data. */
  dispose(): Promise<void>;
}

function launch(location: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const bin = path.join(REPO, 'node_modules/.bin/azurite-blob');
  const child = spawn(bin, ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', location, '--skipApiVersionCheck', '--disableTelemetry', '--loose'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`azurite did not start: ${out}`));
    }, 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited with ${code}: ${out}`));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startAzurite(): Promise<Azurite> {
  const location = await mkdtemp(path.join(os.tmpdir(), 'visor-azurite-'));
  let { child, port } = await launch(location, 0);
  const accountUrl = `http://127.0.0.1:${port}/${ACCOUNT}`;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};BlobEndpoint=${accountUrl};`;
  const service = BlobServiceClient.fromConnectionString(connectionString);
  let running = true;
  const azurite: Azurite = {
    port,
    accountUrl,
    connectionString,
    container: (name) => service.getContainerClient(name),
    async stop() {
      if (!running) return;
      running = false;
      child.kill('SIGTERM');
      await exited(child);
    },
    async start() {
      if (running) return;
      ({ child } = await launch(location, port));
      running = true;
    },
    async restart() {
      await azurite.stop();
      await azurite.start();
    },
    async dispose() {
      await azurite.stop();
      await rm(location, { recursive: true, force: true });
    },
  };
  return azurite;
}
