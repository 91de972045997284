import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { INSTALL_DIR } from '../config/paths.js';
import { UsageError } from './exit.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerManifestCommands(program: Command): void {
  program
    .command('manifest')
    .description('Fill the IoT Edge deployment template from the environment and --set values, and check it')
    .option('-t, --template <file>', 'deployment template', path.join(INSTALL_DIR, 'edge-manifest', 'deployment.template.json'))
    .option('-o, --out <file>', 'where to write the deployment manifest (default: standard output)')
    .option('--set <NAME=VALUE>', 'a placeholder value (repeatable); the environment is read too', collect, [])
    .option('--device <path>', 'a V4L2 device to pass into the module, e.g. /dev/video0 (repeatable)', collect, [])
    .action(async (options: { template: string; out?: string; set: string[]; device: string[] }) => {
      const vars: Record<string, string | undefined> = { ...process.env };
      for (const pair of options.set) {
        const eq = pair.indexOf('=');
        if (eq < 1) throw new UsageError(`--set ${pair}: expected NAME=VALUE`);
        vars[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      const [{ fillDeployment, runtimeWarnings }, { checkDesiredProperties }] = await Promise.all([import('../deploy/manifest.js'), import('../events/index.js')]);
      const template = JSON.parse(readFileSync(options.template, 'utf8'));
      const manifest = fillDeployment(template, { vars, devices: options.device, moduleConfigFile: path.join(INSTALL_DIR, 'config', 'edge.yaml'), checkDesired: checkDesiredProperties });
      for (const warning of runtimeWarnings(manifest)) process.stderr.write(`warning: ${warning}\n`);
      const text = `${JSON.stringify(manifest, null, 2)}\n`;
      if (options.out) writeFileSync(options.out, text);
      else process.stdout.write(text);
    });
}
