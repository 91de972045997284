// Blob Storage access: credentials → ContainerClient, blob names, tags, and turning SDK
// errors into named errors whose messages carry no secrets.
import { AnonymousCredential, BlobServiceClient, ContainerClient, StorageSharedKeyCredential, newPipeline, type StoragePipelineOptions } from '@azure/storage-blob';
import type { UploadConfig } from '../config/schema.js';
import { ConfigError, VisorError, errorMessage } from '../common/errors.js';
import { redactText } from '../common/log.js';

export type UploadErrorKind = 'auth' | 'container-missing' | 'unreachable' | 'remote' | 'not-found';

/** A Blob Storage call failed. `kind` says what the operator must do; the message never holds a secret. */
export class UploadError extends VisorError {
  readonly kind: UploadErrorKind;
  readonly status: number | undefined;
  constructor(kind: UploadErrorKind, message: string, options: { status?: number } = {}) {
    super(`UPLOAD_${kind.toUpperCase().replace(/-/g, '_')}`, redactText(message), { retryable: kind !== 'not-found' });
    this.kind = kind;
    this.status = options.status;
  }
}

export interface ContainerTarget {
  client: ContainerClient;
  /** Container name (from the SAS URL or the config). */
  name: string;
  /** Whether these credentials can create the container (account-level ones can, a container SAS cannot). */
  canCreate: boolean;
  /** How we authenticated, for logs and health (never the secret). */
  auth: 'connection-string' | 'sas-url' | 'account-key' | 'anonymous';
}

export interface ClientOptions {
  /** Per-request timeout. The SDK does not retry: the durable queue does, with its own backoff. */
  timeoutMs: number;
}

function pipelineOptions(options: ClientOptions): StoragePipelineOptions {
  return { retryOptions: { maxTries: 1, tryTimeoutInMs: options.timeoutMs }, keepAliveOptions: { enable: true } };
}

/** Builds the container client from whichever credentials the config gives; throws ConfigError when none or several. */
export function containerFromConfig(config: UploadConfig, options: ClientOptions): ContainerTarget {
  const given = [config.connectionString && 'connectionString', config.sasUrl && 'sasUrl', (config.accountName || config.accountKey) && 'accountName/accountKey'].filter(Boolean);
  if (given.length === 0) throw new ConfigError(['upload: enabled, but none of connectionString, sasUrl or accountName + accountKey is set']);
  if (given.length > 1) throw new ConfigError([`upload: set only one of connectionString, sasUrl or accountName + accountKey (got ${given.join(', ')})`]);
  const opts = pipelineOptions(options);
  try {
    if (config.connectionString) {
      const client = BlobServiceClient.fromConnectionString(config.connectionString, opts).getContainerClient(config.container);
      return { client, name: config.container, canCreate: true, auth: 'connection-string' };
    }
    if (config.sasUrl) {
      const client = new ContainerClient(config.sasUrl, newPipeline(new AnonymousCredential(), opts));
      return { client, name: client.containerName, canCreate: false, auth: 'sas-url' };
    }
    if (!config.accountName || !config.accountKey) throw new ConfigError(['upload: accountName and accountKey go together']);
    const accountUrl = (config.accountUrl ?? `https://${config.accountName}.blob.core.windows.net`).replace(/\/+$/, '');
    const credential = new StorageSharedKeyCredential(config.accountName, config.accountKey);
    const client = new ContainerClient(`${accountUrl}/${encodeURIComponent(config.container)}`, newPipeline(credential, opts));
    return { client, name: config.container, canCreate: true, auth: 'account-key' };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    // The SDK's parse errors may quote the connection string.
    throw new ConfigError([`upload: cannot use the Blob Storage credentials: ${redactText(errorMessage(err))}`]);
  }
}

/**
 * Container client for a `--container` argument of `visor dataset pull`: an http(s) URL
 * (container URL, with a SAS query if private) or a connection string plus container name.
 */
export function containerFromArgument(arg: string, containerName: string, options: ClientOptions): ContainerTarget {
  const opts = pipelineOptions(options);
  if (/^https?:\/\//i.test(arg)) {
    const client = new ContainerClient(arg, newPipeline(new AnonymousCredential(), opts));
    if (!client.containerName) throw new ConfigError(['--container: the URL names no container (expected https://account.blob.core.windows.net/CONTAINER?SAS)']);
    return { client, name: client.containerName, canCreate: false, auth: arg.includes('sig=') ? 'sas-url' : 'anonymous' };
  }
  if (!/AccountName=|UseDevelopmentStorage=|BlobEndpoint=/i.test(arg)) {
    throw new ConfigError(['--container: expected a container URL (https://…/CONTAINER?SAS) or a connection string (…AccountName=…;AccountKey=…)']);
  }
  try {
    const client = BlobServiceClient.fromConnectionString(arg, opts).getContainerClient(containerName);
    return { client, name: containerName, canCreate: true, auth: 'connection-string' };
  } catch (err) {
    throw new ConfigError([`--container: not a usable connection string: ${redactText(errorMessage(err))}`]);
  }
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'REQUEST_SEND_ERROR']);

/** Classifies an SDK error; the result's message names the status/code, never the request URL. */
export function toUploadError(err: unknown, what: string): UploadError {
  if (err instanceof UploadError) return err;
  const e = err as { statusCode?: number; code?: string; name?: string; details?: { errorCode?: string } };
  const status = e.statusCode;
  const code = e.details?.errorCode ?? e.code;
  if (e.name === 'AbortError') return new UploadError('unreachable', `${what}: timed out or aborted`);
  if (status === undefined || status === 0) {
    if (code && UNREACHABLE_CODES.has(code)) return new UploadError('unreachable', `${what}: Blob Storage unreachable (${code})`);
    return new UploadError('unreachable', `${what}: ${errorMessage(err).split('\n')[0]}`);
  }
  if (status === 403 || status === 401) {
    return new UploadError('auth', `${what}: Blob Storage refused the credentials (${status} ${code ?? ''}); check the key, SAS permissions and expiry`.trim(), { status });
  }
  if (status === 404 && code === 'ContainerNotFound') return new UploadError('container-missing', `${what}: the container does not exist`, { status });
  if (status === 404) return new UploadError('not-found', `${what}: not found (${code ?? 404})`, { status });
  return new UploadError('remote', `${what}: Blob Storage answered ${status}${code ? ` ${code}` : ''}`, { status });
}

/** Characters Blob index tag values may hold; anything else becomes "_". */
export function tagValue(value: string): string {
  return value.replace(/[^A-Za-z0-9 +\-./:=_]/g, '_').slice(0, 256);
}

/** `{line}/{camera}/{yyyy}/{mm}/{dd}/{inspection-id}` (UTC day of capture); add `.jpg` / `.json`. */
export function blobBaseName(line: string, cameraId: string, capturedAt: number, inspectionId: string): string {
  const iso = new Date(capturedAt).toISOString();
  return [line, cameraId, iso.slice(0, 4), iso.slice(5, 7), iso.slice(8, 10), inspectionId].join('/');
}
