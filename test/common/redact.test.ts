import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/common/log.js';
import { redactText } from '../../src/common/redact.js';

describe('redactText', () => {
  it('masks the password of rtsp(s) and http(s) URLs, a user-only userinfo, and secret-looking query parameters', () => {
    expect(redactText('rtsp://admin:S3cr%40t@10.0.0.5:554/stream1')).toBe('rtsp://admin:***@10.0.0.5:554/stream1');
    expect(redactText('RTSPS://admin:p@ss@cam/live')).toBe('RTSPS://admin:***@cam/live');
    expect(redactText('https://TOKEN123@cam.local/snap.jpg')).toBe('https://***@cam.local/snap.jpg');
    expect(redactText('http://admin:PW@host/snap.jpg?user=admin&password=PW2&token=TK&channel=1')).toBe(
      'http://admin:***@host/snap.jpg?user=admin&password=[REDACTED]&token=[REDACTED]&channel=1',
    );
    for (const name of ['pass', 'PWD', 'Passwd', 'access_token', 'apikey', 'api_key', 'key', 'secret', 'client_secret', 'auth', 'authToken', 'signature', 'sig', 'X-Amz-Signature', 'X-Amz-Credential']) {
      expect(redactText(`http://cam/a?x=1&${name}=V4LUE&y=2`)).toBe(`http://cam/a?x=1&${name}=[REDACTED]&y=2`);
    }
    expect(redactText('SharedAccessKey=abc/def+g==;DeviceId=d')).toBe('SharedAccessKey=[REDACTED];DeviceId=d');
  });

  it('masks URLs inside longer texts such as ffmpeg stderr and fetch errors, keeping the rest', () => {
    expect(redactText('rtsp://u:pw@127.0.0.1:9/cam?token=SECRET123: Connection refused')).toBe('rtsp://u:***@127.0.0.1:9/cam?token=[REDACTED]: Connection refused');
    expect(redactText('snapshot "http://a:b@h/s.jpg?sig=Z" failed')).toBe('snapshot "http://a:***@h/s.jpg?sig=[REDACTED]" failed');
    expect(redactText('no images in folder /data/cam1 (user@example.com)')).toBe('no images in folder /data/cam1 (user@example.com)');
    expect(redactText('http://host:8080/snap.jpg?channel=2')).toBe('http://host:8080/snap.jpg?channel=2');
  });

  it('is applied to every string of every log line: the message, fields, nested objects and errors', () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (chunk, _e, cb) => (lines.push(String(chunk)), cb()) });
    const log = createLogger({ destination }).child({ module: 'capture' });
    log.warn({ error: 'rtsp://cam/s?token=TK1: refused', nested: { list: ['http://u:PW1@h/'] } }, 'failed http://h/x?password=PW2');
    log.error({ err: new Error('fetch http://h/?apikey=K3 failed') }, 'x');
    const text = lines.join('');
    for (const secret of ['TK1', 'PW1', 'PW2', 'K3']) expect(text).not.toContain(secret);
    expect(JSON.parse(lines[0]!)).toMatchObject({ error: 'rtsp://cam/s?token=[REDACTED]: refused', nested: { list: ['http://u:***@h/'] }, msg: 'failed http://h/x?password=[REDACTED]' });
  });
});
