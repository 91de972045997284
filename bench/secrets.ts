// Issue 16 item 1 end to end: the whole app with cameras whose URLs carry secrets (an HTTP
// snapshot camera refusing its credentials, one accepting Digest, an RTSP camera with
// ?token= that is unreachable) runs for a while; then every output is searched for the
// secrets: the log, /healthz without and with sign-in, the local event sink (health
// messages), the store's folder. Goal: 0 secrets found, and the Digest camera online.
//   npx tsx bench/secrets.ts [--seconds 6]
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createApp } from '../src/app.js';
import { createLogger } from '../src/common/log.js';
import { parseConfig } from '../src/config/index.js';
import { createUserStore } from '../src/review/index.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, fallback: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1]! : fallback);
const SECONDS = Number(arg('--seconds', '6'));
const SECRETS = { password: 'Adm1n-PW-7391', wrong: 'Wr0ng-PW-2210', token: 'TOK-a81f0c77', rtspToken: 'RTSP-TOK-55e1', rtspPassword: 'rtsp-PW-9902' };

const png = await readFile(path.join(REPO, 'test/fixtures/elpv', (await readdir(path.join(REPO, 'test/fixtures/elpv'))).find((f) => f.endsWith('.png'))!));
const nonce = randomBytes(8).toString('hex');
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
// A camera that accepts Digest MD5 (qop=auth) for admin / the password, with the token.
const server = http.createServer((req, res) => {
  const auth = req.headers.authorization ?? '';
  const p = Object.fromEntries([...auth.matchAll(/(\w+)="?([^",]*)"?/g)].map((m) => [m[1], m[2]]));
  const expected = md5(`${md5(`admin:cam:${SECRETS.password}`)}:${nonce}:${p.nc}:${p.cnonce}:auth:${md5(`GET:${req.url}`)}`);
  if (auth.startsWith('Digest ') && p.response === expected && req.url!.includes(`token=${SECRETS.token}`)) return res.writeHead(200, { 'content-type': 'image/png' }).end(png);
  res.writeHead(401, { 'www-authenticate': `Digest realm="cam", qop="auth", nonce="${nonce}", algorithm=MD5` }).end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const cam = `127.0.0.1:${(server.address() as AddressInfo).port}`;
const probe = http.createServer();
await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
const closedPort = (probe.address() as AddressInfo).port;
await new Promise((r) => probe.close(r));

const dir = await mkdtemp(path.join(os.tmpdir(), 'visor-secrets-'));
const lines: string[] = [];
const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
const config = parseConfig({
  cameras: [
    { id: 'refused', source: `http://admin:${SECRETS.wrong}@${cam}/snap.jpg?user=admin&password=${SECRETS.wrong}&token=${SECRETS.token}`, fps: 5, watchdog: { backoffInitialMs: 100, backoffMaxMs: 400 } },
    { id: 'digest', source: `http://admin:${SECRETS.password}@${cam}/snap.jpg?token=${SECRETS.token}`, fps: 5 },
    { id: 'rtsp', source: `rtsp://viewer:${SECRETS.rtspPassword}@127.0.0.1:${closedPort}/live?token=${SECRETS.rtspToken}`, watchdog: { backoffInitialMs: 100, backoffMaxMs: 400 } },
  ],
  model: { package: path.join(REPO, 'models/elpv-cells') },
  store: { dataDir: path.join(dir, 'data') },
  events: { healthIntervalSeconds: 1 },
  review: { port: 0 },
});
const app = await createApp({ config, baseDir: dir, log });
const users = createUserStore({ db: app.store.db });
await users.add({ name: 'bench', role: 'operator', password: 'bench-password' });
const bearer = { authorization: `Bearer ${users.createToken('bench', 'secrets bench').token}` };
await app.start();
await new Promise((r) => setTimeout(r, SECONDS * 1000));
const publicHealth = await (await fetch(`${app.reviewUrl}/healthz`)).text();
const signedHealth = await (await fetch(`${app.reviewUrl}/healthz`, { headers: bearer })).text();
await app.stop();
server.closeAllConnections();
server.close();

async function filesUnder(d: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}
const outputs: Record<string, string> = { log: lines.join(''), 'healthz (public)': publicHealth, 'healthz (signed in)': signedHealth };
for (const f of await filesUnder(path.join(dir, 'data'))) outputs[`data/${path.relative(path.join(dir, 'data'), f)}`] = (await readFile(f)).toString('latin1');
const states = (JSON.parse(signedHealth) as { cameras: { cameraId: string; state: string; reconnects: number }[] }).cameras;
let found = 0;
console.log(`secrets bench: ${SECONDS} s, ${lines.length} log lines, ${Object.keys(outputs).length} outputs searched for ${Object.keys(SECRETS).length} secrets`);
for (const [where, text] of Object.entries(outputs)) {
  for (const [name, secret] of Object.entries(SECRETS)) {
    const n = text.split(secret).length - 1;
    if (n > 0) console.log(`  LEAK: ${name} ${n}x in ${where}`);
    found += n;
  }
}
console.log(`  cameras: ${states.map((c) => `${c.cameraId} ${c.state} (reconnects ${c.reconnects})`).join(', ')}`);
console.log(`  public /healthz: ${publicHealth.length} bytes, keys ${Object.keys(JSON.parse(publicHealth) as object).join(', ')}`);
console.log(`secrets found in all output: ${found} (goal 0)`);
await rm(dir, { recursive: true, force: true });
process.exitCode = found === 0 ? 0 : 1;
