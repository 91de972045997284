#!/usr/bin/env node
// Runs the compiled CLI; `npm run build` produces dist/. Visor runs on Node.js 24 or newer: an
// older node hands over to the project's own (tools/node, installed by scripts/system-deps.sh).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const NODE_MAJOR = 24;
if (Number(process.versions.node.split('.')[0]) >= NODE_MAJOR) {
  await import('../dist/cli/main.js');
} else {
  const own = fileURLToPath(new URL(`../tools/node/node_modules/node-linux-${process.arch}/bin/node`, import.meta.url));
  if (!existsSync(own)) {
    process.stderr.write(`visor: needs Node.js ${NODE_MAJOR} or newer (this is ${process.version}); scripts/system-deps.sh installs it under tools/node\n`);
    process.exit(2);
  }
  const child = spawn(own, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    else process.exit(code ?? 1);
  });
}
