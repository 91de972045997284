// Credentials for camera sources. fetch refuses URLs with userinfo, so an HTTP snapshot URL's
// `user:password@` is taken out and answered to the camera's 401 challenge instead: Basic
// (RFC 7617) or Digest (RFC 7616: MD5, SHA-256 and their -sess variants, qop=auth), which
// most IP cameras ask for. The scheme the camera chose is reused for the following polls.
import { createHash, randomBytes } from 'node:crypto';
import { CaptureError } from '../common/errors.js';

export interface Credentials {
  username: string;
  password: string;
}

/** The URL without its userinfo, and the (percent-decoded) credentials it carried, if any. */
export function splitCredentials(source: string): { url: string; credentials?: Credentials } {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    return { url: source };
  }
  if (!url.username && !url.password) return { url: source };
  const credentials = { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  url.username = '';
  url.password = '';
  return { url: url.href, credentials };
}

/** The URL with credentials put in its userinfo (what ffmpeg takes for RTSP). */
export function withCredentials(source: string, credentials: Credentials | undefined): string {
  if (!credentials) return source;
  const url = new URL(source);
  url.username = encodeURIComponent(credentials.username);
  url.password = encodeURIComponent(credentials.password);
  return url.href;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate value (several challenges arrive joined by ", "). */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  const token = /[\s,]*([^\s=,]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?/y;
  let m: RegExpExecArray | null;
  while ((m = token.exec(header)) && m[0].length > 0) {
    const [, name, value] = m;
    if (value === undefined) challenges.push({ scheme: name!.toLowerCase(), params: {} });
    else if (challenges.length > 0) {
      challenges.at(-1)!.params[name!.toLowerCase()] = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
    }
  }
  return challenges;
}

const DIGEST_HASHES: Record<string, string> = { 'md5': 'md5', 'md5-sess': 'md5', 'sha-256': 'sha256', 'sha-256-sess': 'sha256' };

const quote = (s: string): string => `"${s.replace(/["\\]/g, '\\$&')}"`;

/** Builds Authorization headers for one camera; `challenge` adopts what a 401 asked for. */
export class SnapshotAuth {
  private basic = false;
  private digest: { params: Record<string, string>; algorithm: string; qop: boolean; nc: number } | undefined;

  constructor(private readonly credentials: Credentials) {}

  /** The Authorization header for a GET of `url`, once the camera has said which scheme it wants. */
  header(url: string): string | undefined {
    const { username, password } = this.credentials;
    if (this.basic) return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    if (!this.digest) return undefined;
    const d = this.digest;
    const h = (s: string): string => createHash(DIGEST_HASHES[d.algorithm]!).update(s).digest('hex');
    const { realm = '', nonce = '', opaque } = d.params;
    const target = new URL(url);
    const uri = target.pathname + target.search;
    d.nc += 1;
    const nc = d.nc.toString(16).padStart(8, '0');
    const cnonce = randomBytes(16).toString('hex');
    let ha1 = h(`${username}:${realm}:${password}`);
    if (d.algorithm.endsWith('-sess')) ha1 = h(`${ha1}:${nonce}:${cnonce}`);
    const ha2 = h(`GET:${uri}`);
    const response = d.qop ? h(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`) : h(`${ha1}:${nonce}:${ha2}`);
    const fields = [`username=${quote(username)}`, `realm=${quote(realm)}`, `nonce=${quote(nonce)}`, `uri=${quote(uri)}`, `algorithm=${d.params.algorithm ?? 'MD5'}`, `response=${quote(response)}`];
    if (d.qop) fields.push('qop=auth', `nc=${nc}`, `cnonce=${quote(cnonce)}`);
    if (opaque !== undefined) fields.push(`opaque=${quote(opaque)}`);
    return `Digest ${fields.join(', ')}`;
  }

  /** Adopts the strongest challenge Visor can answer (Digest SHA-256, Digest MD5, Basic); throws when there is none. */
  challenge(wwwAuthenticate: string | null): void {
    const challenges = parseChallenges(wwwAuthenticate ?? '');
    const digests = challenges
      .filter((c) => c.scheme === 'digest')
      .map((c) => ({ params: c.params, algorithm: (c.params.algorithm ?? 'MD5').toLowerCase(), qops: (c.params.qop ?? '').split(',').map((q) => q.trim().toLowerCase()).filter(Boolean) }));
    const usable = digests
      .filter((d) => DIGEST_HASHES[d.algorithm] && (d.qops.length === 0 || d.qops.includes('auth')))
      .sort((a, b) => Number(b.algorithm.startsWith('sha')) - Number(a.algorithm.startsWith('sha')));
    const best = usable[0];
    if (best) {
      this.basic = false;
      this.digest = { params: best.params, algorithm: best.algorithm, qop: best.qops.length > 0, nc: 0 };
    } else if (challenges.some((c) => c.scheme === 'basic')) {
      this.digest = undefined;
      this.basic = true;
    } else {
      const asked = challenges.map((c) => (c.scheme === 'digest' ? `Digest ${c.params.algorithm ?? 'MD5'} qop=${c.params.qop ?? '-'}` : c.scheme)).join('; ') || 'nothing (no WWW-Authenticate)';
      throw new CaptureError(`HTTP 401: the camera asks for ${asked}; Visor answers Basic and Digest (MD5, SHA-256, qop=auth)`);
    }
  }
}
