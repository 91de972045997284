// The fleet view: a candidate, the dataset it was fitted on and its comparison go to Blob Storage
// (the upload section's account and container) under <line>/learning/<version>/, so the ML team
// can review it and roll it out to other devices through the module twin (model: { url, sha256 }
// names the uploaded model.json; docs/learning.md).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { UploadConfig } from '../config/schema.js';
import { containerFromConfig, toUploadError } from '../upload/blob.js';
import type { Comparison } from './compare.js';
import type { CandidateRecord } from './records.js';

export interface FleetUpload {
  container: string;
  /** Blob name prefix: <line>/learning/<version>/. */
  prefix: string;
  blobs: string[];
  /** sha256 of the uploaded model.json: with its URL, the module twin's `model` reference. */
  modelJsonSha256: string;
  at: number;
}

export async function uploadCandidate(deps: { config: UploadConfig; candidate: CandidateRecord; comparison?: Comparison; now?: () => number }): Promise<FleetUpload> {
  const { config, candidate } = deps;
  const target = containerFromConfig(config, { timeoutMs: config.requestTimeoutSeconds * 1000 });
  const prefix = `${config.line}/learning/${candidate.version}/`;
  const modelJson = await readFile(path.join(candidate.dir, 'model.json'));
  const files: Array<[string, Buffer, string]> = [
    ['model.json', modelJson, 'application/json'],
    ['model.onnx', await readFile(path.join(candidate.dir, 'model.onnx')), 'application/octet-stream'],
  ];
  if (candidate.dataset) {
    // Device paths mean nothing elsewhere: the manifest names inspections, cameras and labels.
    const images = candidate.dataset.images.map(({ file, ...rest }) => ({ ...rest, file: path.basename(file) }));
    files.push(['dataset.json', Buffer.from(JSON.stringify({ ...candidate.dataset, images }, null, 2)), 'application/json']);
  }
  if (deps.comparison) files.push(['comparison.json', Buffer.from(JSON.stringify(deps.comparison, null, 2)), 'application/json']);
  try {
    if (target.canCreate && config.createContainer) await target.client.createIfNotExists();
    for (const [name, body, contentType] of files) {
      await target.client.getBlockBlobClient(prefix + name).uploadData(body, { blobHTTPHeaders: { blobContentType: contentType } });
    }
  } catch (err) {
    throw toUploadError(err, `uploading candidate ${candidate.version}`);
  }
  return {
    container: target.name,
    prefix,
    blobs: files.map(([name]) => prefix + name),
    modelJsonSha256: createHash('sha256').update(modelJson).digest('hex'),
    at: (deps.now ?? Date.now)(),
  };
}
