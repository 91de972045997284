// Model packages referenced from the cloud (module twin `model`, the reloadModel method):
// downloaded to <dataDir>/models/<sha256>/, verified, and only then handed to swapModel.
//
// A reference is { url, sha256 }: `url` points at the package's model.json and `sha256`
// is the hash of that model.json. model.onnx is fetched from the same folder (the last
// path segment replaced, the query string kept, so a Blob SAS URL works) and must match
// the sha256 that the verified model.json records. One hash thus authenticates both files.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Type, type Static } from '@sinclair/typebox';
import { VisorError, errorMessage } from '../common/errors.js';
import { MANIFEST_FILE, ONNX_FILE, loadModelPackage, parseManifest } from '../inference/package.js';
import type { Logger } from '../common/log.js';

export const ModelReference = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', description: 'URL of the package\'s model.json (http or https; model.onnx sits beside it).' }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256 of model.json (lower-case hex).' }),
  },
  { additionalProperties: false },
);
export type ModelReference = Static<typeof ModelReference>;

/** The package could not be fetched or did not verify; the running model stays. */
export class ModelUpdateError extends VisorError {
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super('MODEL_UPDATE_FAILED', message, options);
  }
}

export interface ModelFetchDeps {
  /** Absolute data dir; packages go to <dataDir>/models/<sha256>/. */
  dataDir: string;
  log: Logger;
  fetch?: typeof fetch;
  /** Largest model.onnx accepted (bytes). */
  maxBytes?: number;
  timeoutMs?: number;
}

const MAX_MANIFEST_BYTES = 1024 * 1024;

/** The URL without query or fragment: what may be logged (a SAS signature lives in the query). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/** model.onnx beside model.json, keeping the query string (SAS). */
export function siblingUrl(url: string, file: string): string {
  const u = new URL(url);
  u.pathname = u.pathname.replace(/[^/]*$/, file);
  return u.toString();
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function modelDirFor(dataDir: string, ref: Pick<ModelReference, 'sha256'>): string {
  return path.join(dataDir, 'models', ref.sha256);
}

/**
 * Returns the folder of the verified package, downloading it unless a verified copy is
 * already there. Throws ModelUpdateError on any mismatch or download failure.
 */
export async function fetchModelPackage(ref: ModelReference, deps: ModelFetchDeps): Promise<string> {
  const doFetch = deps.fetch ?? fetch;
  const maxBytes = deps.maxBytes ?? 2 * 1024 ** 3;
  const timeoutMs = deps.timeoutMs ?? 10 * 60_000;
  const finalDir = modelDirFor(deps.dataDir, ref);
  const log = deps.log.child({ url: safeUrl(ref.url), sha256: ref.sha256 });

  // Already downloaded (a restart re-applies the twin): verify again, never trust the disk blindly.
  if (await stat(finalDir).catch(() => undefined)) {
    try {
      const json = await readFile(path.join(finalDir, MANIFEST_FILE));
      if (sha256(json) === ref.sha256) {
        await loadModelPackage(finalDir);
        return finalDir;
      }
    } catch {
      // Fall through: download again.
    }
    await rm(finalDir, { recursive: true, force: true });
  }

  const signal = AbortSignal.timeout(timeoutMs);
  const get = async (url: string): Promise<Response> => {
    let res: Response;
    try {
      res = await doFetch(url, { signal, redirect: 'follow' });
    } catch (err) {
      throw new ModelUpdateError(`cannot download ${safeUrl(url)}: ${errorMessage(err)}`, { cause: err, retryable: true });
    }
    if (!res.ok) throw new ModelUpdateError(`cannot download ${safeUrl(url)}: HTTP ${res.status}`, { retryable: res.status >= 500 });
    return res;
  };

  const jsonRes = await get(ref.url);
  const json = Buffer.from(await jsonRes.arrayBuffer());
  if (json.length > MAX_MANIFEST_BYTES) throw new ModelUpdateError(`${MANIFEST_FILE} is larger than ${MAX_MANIFEST_BYTES} bytes`);
  const actual = sha256(json);
  if (actual !== ref.sha256) throw new ModelUpdateError(`${MANIFEST_FILE} sha256 is ${actual}, expected ${ref.sha256}; refused`);
  let manifest;
  try {
    manifest = parseManifest(JSON.parse(json.toString('utf8')), safeUrl(ref.url));
  } catch (err) {
    throw new ModelUpdateError(`downloaded ${MANIFEST_FILE} is not a valid manifest: ${errorMessage(err)}`, { cause: err });
  }

  const tmpDir = path.join(deps.dataDir, 'models', `.download-${randomBytes(6).toString('hex')}`);
  await mkdir(tmpDir, { recursive: true });
  try {
    const onnxRes = await get(siblingUrl(ref.url, ONNX_FILE));
    if (!onnxRes.body) throw new ModelUpdateError(`${ONNX_FILE}: empty response`);
    const hash = createHash('sha256');
    let bytes = 0;
    const counted = Readable.fromWeb(onnxRes.body as import('node:stream/web').ReadableStream<Uint8Array>).map((chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) throw new ModelUpdateError(`${ONNX_FILE} is larger than ${maxBytes} bytes`);
      hash.update(chunk);
      return chunk;
    });
    await pipeline(counted, createWriteStream(path.join(tmpDir, ONNX_FILE)));
    const onnxHash = hash.digest('hex');
    if (onnxHash !== manifest.sha256) {
      throw new ModelUpdateError(`${ONNX_FILE} sha256 is ${onnxHash} but the verified ${MANIFEST_FILE} says ${manifest.sha256}; refused`);
    }
    await writeFile(path.join(tmpDir, MANIFEST_FILE), json);
    await rename(tmpDir, finalDir);
    log.info({ model: manifest.name, version: manifest.version, bytes }, 'model package downloaded and verified');
    return finalDir;
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    if (err instanceof ModelUpdateError) throw err;
    throw new ModelUpdateError(`cannot download ${ONNX_FILE}: ${errorMessage(err)}`, { cause: err, retryable: true });
  }
}
