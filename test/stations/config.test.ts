// The stations part of the config: defaults, and every mistake named by its path.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/common/errors.js';
import { parseConfig } from '../../src/config/index.js';

const cameras = [{ id: 'top', source: 'cells/' }, { id: 'side', source: 'side/' }];

function issues(raw: unknown): string[] {
  try {
    parseConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe('stations config', () => {
  it('fills the defaults of a station', () => {
    const config = parseConfig({ cameras, stations: [{ id: 'st1', cameras: ['top', 'side'] }] });
    expect(config.stations[0]).toEqual({
      id: 'st1', cameras: ['top', 'side'], deadlineMs: 150, settleMs: 0, inspect: 'continuous', lateWindowMs: 10000, uncertain: 'ng', triggers: ['http'], transports: [], heartbeatMs: 500, recipes: [],
    });
    expect(config.plc.opcua.port).toBe(4840);
    expect(config.plc.modbus.port).toBe(502);
  });

  it('names each mistake by its path', () => {
    expect(
      issues({
        cameras,
        stations: [
          { id: 'st1', cameras: ['top', 'front'], deadlineMs: 500, lateWindowMs: 100, triggers: ['mqtt'], recipes: [{ index: 1 }, { index: 1 }], recipe: 3 },
          { id: 'st1', cameras: ['side'], transports: ['profinet'] },
          { id: 'st3', cameras: ['side'], transports: ['opcua-client'] },
        ],
      }),
    ).toEqual(
      expect.arrayContaining([
        'stations[1].transports[0]: Expected union value',
        'stations[0].cameras[1]: no camera "front" (cameras[].id)',
        'stations[0].lateWindowMs: must be at least deadlineMs (500)',
        'stations[0].recipes[1].index: 1 is used twice',
        'stations[0].recipe: no recipe with index 3',
        'stations[0]: uses "mqtt", which needs plc.mqtt.url',
        'stations[2]: uses "opcua-client", which needs plc.opcuaClient.endpoint',
      ]),
    );
    expect(issues({ cameras, stations: [{ id: 'a', cameras: ['top'] }, { id: 'a', cameras: ['side'] }] })).toEqual(['stations[1].id: "a" is already used by stations[0]']);
  });
});
