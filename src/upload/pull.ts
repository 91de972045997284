// `visor dataset pull`: downloads the samples matching a filter (chosen with blob index
// tags, so nothing is listed that does not match), in parallel and resumably, and writes
// the manifests `labels.csv` (file,label,… relative to the output folder) and `records.jsonl`.
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ContainerTarget } from './blob.js';
import { toUploadError, UploadError } from './blob.js';
import type { Sidecar } from './record.js';
import { csvRow } from '../common/csv.js';

/** Per output folder: blob name → etag and size of each completed download (appended as they complete). */
export const STATE_FILE = '.visor-pull.jsonl';
export const LABELS_FILE = 'labels.csv';
export const RECORDS_FILE = 'records.jsonl';
const PART_SUFFIX = '.part';

export interface PullFilter {
  /** Captured at or after. */
  since?: Date;
  /** Captured before. */
  until?: Date;
  camera?: string;
  label?: string;
  reviewedOnly?: boolean;
  modelVersion?: string;
  modelName?: string;
  line?: string;
}

export interface PullOptions extends PullFilter {
  target: ContainerTarget;
  out: string;
  concurrency?: number;
  /** false: list the container and filter locally (for SAS tokens without the "f" permission). Default true, falling back to listing when the tag query is refused. */
  useTags?: boolean;
  signal?: AbortSignal;
  /** Called with the number of samples matched, then after each sample completes. */
  onProgress?: (done: number, total: number) => void;
}

export interface PullResult {
  matched: number;
  /** Files fetched (image or sidecar) this run. */
  downloaded: number;
  /** Files already complete locally with the same etag. */
  skipped: number;
  failed: { blob: string; error: string }[];
  bytes: number;
  seconds: number;
  filter: 'tags' | 'list';
}

function quote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** The tag filter for findBlobsByTags; every condition is also checked locally by `matches`. */
export function tagQuery(f: PullFilter): string {
  const parts = [`"kind" = 'image'`];
  if (f.camera) parts.push(`"camera" = ${quote(f.camera)}`);
  if (f.label) parts.push(`"label" = ${quote(f.label)}`);
  if (f.reviewedOnly) parts.push(`"reviewed" = 'true'`);
  if (f.modelVersion) parts.push(`"modelVersion" = ${quote(f.modelVersion)}`);
  if (f.modelName) parts.push(`"model" = ${quote(f.modelName)}`);
  if (f.line) parts.push(`"line" = ${quote(f.line)}`);
  if (f.since) parts.push(`"capturedAt" >= ${quote(f.since.toISOString())}`);
  if (f.until) parts.push(`"capturedAt" < ${quote(f.until.toISOString())}`);
  return parts.join(' AND ');
}

export function matches(f: PullFilter, tags: Record<string, string>): boolean {
  if (tags.kind !== 'image') return false;
  if (f.camera && tags.camera !== f.camera) return false;
  if (f.label && tags.label !== f.label) return false;
  if (f.reviewedOnly && tags.reviewed !== 'true') return false;
  if (f.modelVersion && tags.modelVersion !== f.modelVersion) return false;
  if (f.modelName && tags.model !== f.modelName) return false;
  if (f.line && tags.line !== f.line) return false;
  const at = tags.capturedAt ?? '';
  if (f.since && !(at >= f.since.toISOString())) return false;
  if (f.until && !(at < f.until.toISOString())) return false;
  return true;
}

/** Blob names become local paths: plain segments only, so a hostile container cannot write outside the folder. */
function localPath(out: string, blob: string): string | undefined {
  const segments = blob.split('/');
  if (segments.some((s) => !/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(s) || s.includes('..'))) return undefined;
  return path.join(out, ...segments);
}

async function listMatching(opts: PullOptions): Promise<{ names: string[]; filter: 'tags' | 'list' }> {
  const { client } = opts.target;
  if (opts.useTags !== false) {
    try {
      const names: string[] = [];
      for await (const blob of client.findBlobsByTags(tagQuery(opts), { abortSignal: opts.signal })) {
        if (blob.name.endsWith('.jpg')) names.push(blob.name);
      }
      return { names: names.sort(), filter: 'tags' };
    } catch (err) {
      const e = toUploadError(err, 'find blobs by tags');
      // A SAS without the "f" permission, or a store without tag queries: list instead.
      if (!(e.kind === 'auth' || (e.kind === 'remote' && (e.status === 400 || e.status === 501)))) throw e;
    }
  }
  const names: string[] = [];
  try {
    for await (const blob of client.listBlobsFlat({ includeTags: true, abortSignal: opts.signal })) {
      if (blob.name.endsWith('.jpg') && matches(opts, blob.tags ?? {})) names.push(blob.name);
    }
  } catch (err) {
    throw toUploadError(err, `list container ${opts.target.name}`);
  }
  return { names: names.sort(), filter: 'list' };
}

async function readState(out: string): Promise<Map<string, { etag: string; size: number }>> {
  const state = new Map<string, { etag: string; size: number }>();
  let text = '';
  try {
    text = await readFile(path.join(out, STATE_FILE), 'utf8');
  } catch {
    return state;
  }
  for (const line of text.split('\n')) {
    try {
      const entry = JSON.parse(line) as { blob: string; etag: string; size: number };
      state.set(entry.blob, { etag: entry.etag, size: entry.size });
    } catch {
      // a line torn by an interruption
    }
  }
  return state;
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

export async function pullDataset(opts: PullOptions): Promise<PullResult> {
  const started = performance.now();
  const out = path.resolve(opts.out);
  await mkdir(out, { recursive: true });
  const { names, filter } = await listMatching(opts);
  const state = await readState(out);
  const result: PullResult = { matched: names.length, downloaded: 0, skipped: 0, failed: [], bytes: 0, seconds: 0, filter };
  opts.onProgress?.(0, names.length);

  /** Downloads one blob unless the local file is complete and the blob unchanged (conditional GET on the recorded etag). */
  async function fetchBlob(blob: string, file: string): Promise<void> {
    const known = state.get(blob);
    const local = await sizeOf(file);
    const client = opts.target.client.getBlobClient(blob);
    const unchanged = known !== undefined && local === known.size;
    let response;
    try {
      response = await client.download(0, undefined, { abortSignal: opts.signal, conditions: unchanged ? { ifNoneMatch: known.etag } : undefined });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 304) {
        result.skipped += 1;
        return;
      }
      throw toUploadError(err, `download ${blob}`);
    }
    if (unchanged && response._response.status === 304) {
      result.skipped += 1;
      return;
    }
    await mkdir(path.dirname(file), { recursive: true });
    const part = `${file}${PART_SUFFIX}`;
    await pipeline(response.readableStreamBody!, createWriteStream(part));
    const size = (await sizeOf(part)) ?? -1;
    if (response.contentLength !== undefined && size !== response.contentLength) {
      await rm(part, { force: true });
      throw new UploadError('remote', `download ${blob}: got ${size} of ${response.contentLength} bytes`);
    }
    await rename(part, file);
    await appendFile(path.join(out, STATE_FILE), `${JSON.stringify({ blob, etag: response.etag, size })}\n`);
    result.downloaded += 1;
    result.bytes += size;
  }

  const records: { file: string; sidecar: Sidecar }[] = [];
  let done = 0;
  let next = 0;
  async function worker(): Promise<void> {
    while (next < names.length) {
      if (opts.signal?.aborted) return;
      const image = names[next++]!;
      const sidecarBlob = image.replace(/\.jpg$/, '.json');
      const imageFile = localPath(out, image);
      const sidecarFile = localPath(out, sidecarBlob);
      try {
        if (!imageFile || !sidecarFile) throw new UploadError('remote', 'blob name is not a safe relative path');
        await fetchBlob(image, imageFile);
        await fetchBlob(sidecarBlob, sidecarFile);
        const sidecar = JSON.parse(await readFile(sidecarFile, 'utf8')) as Sidecar;
        records.push({ file: path.relative(out, imageFile).split(path.sep).join('/'), sidecar });
      } catch (err) {
        result.failed.push({ blob: image, error: err instanceof Error ? err.message : String(err) });
      }
      opts.onProgress?.(++done, names.length);
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 8, 64)) }, worker));

  records.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  await writeManifests(out, records);
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

export const LABELS_COLUMNS = ['file', 'label', 'verdict', 'score', 'reviewed', 'camera', 'model', 'model_version', 'captured_at', 'inspection_id'] as const;

/** Written whole to a temporary name and renamed, so an interrupted pull never leaves a half manifest. */
async function writeManifests(out: string, records: { file: string; sidecar: Sidecar }[]): Promise<void> {
  const csv = [LABELS_COLUMNS.join(',')];
  const jsonl: string[] = [];
  for (const { file, sidecar: s } of records) {
    csv.push(csvRow([file, s.label, s.verdict, s.score, s.reviewed, s.cameraId, s.model.name, s.model.version, s.capturedAt, s.inspectionId]));
    jsonl.push(JSON.stringify({ file, ...s }));
  }
  for (const [name, lines] of [[LABELS_FILE, csv], [RECORDS_FILE, jsonl]] as const) {
    const tmp = path.join(out, `${name}.tmp`);
    await writeFile(tmp, lines.length > 0 ? `${lines.join('\n')}\n` : '');
    await rename(tmp, path.join(out, name));
  }
}
