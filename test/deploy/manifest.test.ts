// The IoT Edge deployment template and `visor manifest`.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkDeployment, fillDeployment, readCreateOptions, runtimeWarnings } from '../../src/deploy/manifest.js';
import { ConfigError } from '../../src/common/errors.js';
import { checkDesiredProperties } from '../../src/events/index.js';
import { CLI, REPO } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp.js';

const exec = promisify(execFile);
const TEMPLATE_FILE = path.join(REPO, 'edge-manifest/deployment.template.json');
const MODULE_CONFIG = path.join(REPO, 'config/edge.yaml');
const template = () => JSON.parse(readFileSync(TEMPLATE_FILE, 'utf8'));
const vars = {
  REGISTRY: 'contoso.azurecr.io',
  IMAGE_TAG: '0.1.0-amd64',
  REGISTRY_USERNAME: 'contoso',
  REGISTRY_PASSWORD: 'not-a-real-password',
  CAMERA_SOURCE: 'rtsp://192.0.2.10:554/stream1',
};

type Manifest = ReturnType<typeof fillDeployment>;
const agent = (m: Manifest) => (m.modulesContent as any).$edgeAgent['properties.desired'];

describe('deployment template', () => {
  it("gives the Visor module desired properties that the module twin accepts, and reports ones it would refuse", () => {
    const m = fillDeployment(template(), { vars, moduleConfigFile: MODULE_CONFIG, checkDesired: checkDesiredProperties });
    expect((m.modulesContent as any).visor['properties.desired']).toMatchObject({ upload: { okSampleFraction: 0.01 } });
    const bad = template();
    bad.modulesContent.visor['properties.desired'] = { thresholds: { defect: 'high' }, fps: 5 };
    let error: ConfigError | undefined;
    try {
      fillDeployment(bad, { vars, moduleConfigFile: MODULE_CONFIG, checkDesired: checkDesiredProperties });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error?.issues.sort()).toEqual(['visor.properties.desired: fps: Unexpected property', 'visor.properties.desired: thresholds.defect: Expected number']);
  });

  it('fills into a manifest whose createOptions all parse, with the module image and env', () => {
    const m = fillDeployment(template(), { vars, moduleConfigFile: MODULE_CONFIG });
    const a = agent(m);
    expect(a.schemaVersion).toBe('1.1');
    for (const module of [...Object.values(a.systemModules), ...Object.values(a.modules)] as { settings: Record<string, unknown> }[]) {
      expect(typeof module.settings.createOptions).toBe('string');
      expect(() => readCreateOptions(module.settings)).not.toThrow();
    }
    expect(a.modules.visor.settings.image).toBe('contoso.azurecr.io/visor:0.1.0-amd64');
    expect(a.modules.visor.env.VISOR_CAMERAS__0__SOURCE.value).toBe(vars.CAMERA_SOURCE);
    const visorOptions = readCreateOptions(a.modules.visor.settings) as any;
    // Data survives restarts on the host; the UI is published on the host's loopback only.
    expect(visorOptions.HostConfig.Binds).toContain('/var/lib/visor:/var/lib/visor');
    expect(visorOptions.HostConfig.PortBindings['8080/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: '8080' }]);
    // edgeHub keeps its store-and-forward queue on the host, so buffered messages survive reboots.
    expect(readCreateOptions(a.systemModules.edgeHub.settings)).toMatchObject({ HostConfig: { Binds: ['/var/lib/iotedge/edgehub:/tmp/edgehub'] } });
    expect(a.systemModules.edgeHub.env.storageFolder.value).toBe('/tmp/edgehub');
  });

  it('routes defects at priority 0 with a long time-to-live, health at low priority, from the output Visor sends on', () => {
    const m = fillDeployment(template(), { vars, moduleConfigFile: MODULE_CONFIG });
    const hub = (m.modulesContent as any).$edgeHub['properties.desired'];
    expect(hub.routes.visorDefects).toMatchObject({ priority: 0, timeToLiveSecs: 604800 });
    expect(hub.routes.visorHealth.priority).toBeGreaterThan(hub.routes.visorDefects.priority);
    expect(hub.storeAndForwardConfiguration.timeToLiveSecs).toBeGreaterThanOrEqual(86400);
    const routed = structuredClone(m);
    (routed.modulesContent as any).$edgeHub['properties.desired'].routes.visorDefects.route = 'FROM /messages/modules/visor/outputs/alerts INTO $upstream';
    expect(checkDeployment(routed, { moduleConfigFile: MODULE_CONFIG })).toEqual([
      '$edgeHub.routes.visorDefects: Visor sends on output "defects", not "alerts"',
    ]);
  });

  it('passes V4L2 devices into the module and splits long createOptions into 512-character parts', () => {
    const devices = Array.from({ length: 8 }, (_, i) => `/dev/video${i}`);
    const m = fillDeployment(template(), { vars, devices, moduleConfigFile: MODULE_CONFIG });
    const settings = agent(m).modules.visor.settings;
    expect(Object.keys(settings).filter((k) => k.startsWith('createOptions')).length).toBeGreaterThan(1);
    for (const [k, v] of Object.entries(settings)) if (k.startsWith('createOptions')) expect((v as string).length).toBeLessThanOrEqual(512);
    expect((readCreateOptions(settings) as any).HostConfig.Devices).toHaveLength(8);
  });

  it('lists every missing value and every module setting Visor would refuse', () => {
    let error: ConfigError | undefined;
    try {
      fillDeployment(template(), { vars: { ...vars, CAMERA_SOURCE: undefined, REGISTRY: undefined, UPLOAD_ENABLED: 'true' }, moduleConfigFile: MODULE_CONFIG });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\$\{CAMERA_SOURCE\}: no value/),
        expect.stringMatching(/^\$\{REGISTRY\}: no value/),
        expect.stringMatching(/^modules\.visor\.env → cameras\[0\]\.source: /),
        expect.stringMatching(/^modules\.visor\.env → upload: enabled needs connectionString/),
      ]),
    );
  });

  it('visor manifest writes the filled manifest, and exits 2 naming what is missing', async () => {
    const set = Object.entries(vars).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
    const { stdout } = await exec(process.execPath, [...CLI, 'manifest', ...set, '--device', '/dev/video0'], { env: { PATH: process.env.PATH } });
    const m = JSON.parse(stdout);
    expect((readCreateOptions(agent(m).modules.visor.settings) as any).HostConfig.Devices[0].PathOnHost).toBe('/dev/video0');
    const failed = await exec(process.execPath, [...CLI, 'manifest'], { env: { PATH: process.env.PATH } }).catch((e) => e);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('${IMAGE_TAG}: no value');
  });
});

describe('IoT Edge runtime servicing', () => {
  const pinned = (version: string) => {
    const t = template();
    const modules = t.modulesContent.$edgeAgent['properties.desired'].systemModules;
    modules.edgeAgent.settings.image = `mcr.microsoft.com/azureiotedge-agent:${version}`;
    modules.edgeHub.settings.image = `mcr.microsoft.com/azureiotedge-hub:${version}`;
    return fillDeployment(t, { vars, moduleConfigFile: MODULE_CONFIG });
  };
  const december2026 = new Date('2026-12-01T00:00:00Z');

  it('the template pins IoT Edge 1.6 LTS, which is serviced', () => {
    const m = fillDeployment(template(), { vars, moduleConfigFile: MODULE_CONFIG });
    expect(agent(m).systemModules.edgeAgent.settings.image).toBe('mcr.microsoft.com/azureiotedge-agent:1.6');
    expect(agent(m).systemModules.edgeHub.settings.image).toBe('mcr.microsoft.com/azureiotedge-hub:1.6');
    expect(runtimeWarnings(m, december2026)).toEqual([]);
  });

  it('warns on 1.5 after its end of servicing, on older releases, and on 1.6 once it ends', () => {
    expect(runtimeWarnings(pinned('1.5'), new Date('2026-11-10T12:00:00Z'))).toEqual([]);
    expect(runtimeWarnings(pinned('1.5.21'), december2026)).toEqual([
      'systemModules.edgeAgent.settings.image: IoT Edge 1.5 (mcr.microsoft.com/azureiotedge-agent:1.5.21) is out of servicing since 2026-11-10; use 1.6 (serviced until 2028-11-14)',
      'systemModules.edgeHub.settings.image: IoT Edge 1.5 (mcr.microsoft.com/azureiotedge-hub:1.5.21) is out of servicing since 2026-11-10; use 1.6 (serviced until 2028-11-14)',
    ]);
    expect(runtimeWarnings(pinned('1.2'), december2026)[0]).toBe(
      'systemModules.edgeAgent.settings.image: IoT Edge 1.2 (mcr.microsoft.com/azureiotedge-agent:1.2) is out of servicing; use 1.6 (serviced until 2028-11-14)',
    );
    expect(runtimeWarnings(pinned('1.6'), new Date('2028-11-15T00:00:00Z'))).toHaveLength(2);
    // A release newer than this table knows is not flagged.
    expect(runtimeWarnings(pinned('1.7'), december2026)).toEqual([]);
  });

  it('visor manifest prints the warning for a 1.5 template and still writes the manifest', async () => {
    const { dir, cleanup } = await tempDir('visor-manifest-');
    try {
      const old = readFileSync(TEMPLATE_FILE, 'utf8').replaceAll(':1.6"', ':1.5"');
      const file = path.join(dir, 'deployment.template.json');
      await writeFile(file, old);
      const set = Object.entries(vars).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
      const warned = await exec(process.execPath, [...CLI, 'manifest', '--template', file, ...set], { env: { PATH: process.env.PATH } });
      expect(warned.stderr).toContain('warning: systemModules.edgeAgent.settings.image: IoT Edge 1.5 (mcr.microsoft.com/azureiotedge-agent:1.5) is out of servicing since 2026-11-10');
      expect(agent(JSON.parse(warned.stdout)).systemModules.edgeHub.settings.image).toBe('mcr.microsoft.com/azureiotedge-hub:1.5');
      // The shipped template: no warning (until 1.6 ends on 2028-11-14, when this should fail and the template move on).
      const current = await exec(process.execPath, [...CLI, 'manifest', ...set], { env: { PATH: process.env.PATH } });
      expect(current.stderr).not.toContain('warning');
    } finally {
      await cleanup();
    }
  });
});
