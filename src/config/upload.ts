// Config section `upload` (Blob Storage), owned by src/upload.
import { Type } from '@sinclair/typebox';

export const UploadSection = Type.Object(
  {
    enabled: Type.Boolean({ default: false }),
    connectionString: Type.Optional(Type.String({ description: 'Blob Storage connection string (secret; never logged). One of connectionString, sasUrl or accountName + accountKey is required when enabled.' })),
    sasUrl: Type.Optional(Type.String({ description: 'Container SAS URL (secret; never logged); names the container itself, so `container` is ignored. Needs r, w, t (tags) permissions; c cannot create a container.' })),
    accountName: Type.Optional(Type.String({ description: 'Storage account name, used with accountKey.' })),
    accountKey: Type.Optional(Type.String({ description: 'Storage account key (secret; never logged).' })),
    accountUrl: Type.Optional(Type.String({ description: 'Blob endpoint for accountName + accountKey. Default: https://<accountName>.blob.core.windows.net.' })),
    container: Type.String({ default: 'visor-samples', description: 'Container for samples (with a connection string or account key).' }),
    createContainer: Type.Boolean({ default: true, description: 'Create the container when it does not exist (needs account-level credentials). Off: a missing container is an error shown in health, and uploads wait.' }),
    line: Type.String({ default: 'line-1', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'Production line name, the first part of every blob name.' }),
    defects: Type.Boolean({ default: true, description: 'Upload every defect frame.' }),
    uncertain: Type.Boolean({ default: true, description: 'Upload every uncertain frame (near the threshold, where a model learns most).' }),
    okSampleFraction: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.01,
      description: 'Fraction of ok frames uploaded. Only ok frames whose image the store kept can be uploaded, so the effective fraction is at most store.okSampleFraction.',
    }),
    maxPerHourPerCamera: Type.Integer({ minimum: 0, default: 600, description: 'Sampled uploads per camera per rolling hour; beyond it frames are recorded as "hourly-cap" and not uploaded. Requested samples and review labels do not count.' }),
    maxQueueLength: Type.Integer({ minimum: 1, default: 100000, description: 'Jobs waiting in the local queue; a new sample beyond it is dropped (counted, logged). Queued images also count against store.maxDiskMb.' }),
    concurrency: Type.Integer({ minimum: 1, maximum: 64, default: 4, description: 'Uploads in flight at once.' }),
    maxKbps: Type.Number({ minimum: 0, default: 0, description: 'Average upload bandwidth limit in kilobits per second (0 = unlimited).' }),
    backoffInitialMs: Type.Integer({ minimum: 10, default: 1000, description: 'First retry delay after a failed upload; doubles per failure with ±20% jitter.' }),
    backoffMaxMs: Type.Integer({ minimum: 10, default: 300000, description: 'Cap of the retry delay.' }),
    requestTimeoutSeconds: Type.Number({ exclusiveMinimum: 0, default: 60, description: 'Timeout of one request to Blob Storage: a stalled link fails the request (and shows in health) after this long.' }),
    degradedQueueAgeSeconds: Type.Number({
      exclusiveMinimum: 0,
      default: 3600,
      description: 'Health of `upload` is degraded while a sample has waited longer than this and no upload succeeded for as long (a queue that moves, even slowly under maxKbps, is healthy).',
    }),
  },
  { additionalProperties: false, default: {} },
);

/** Per-camera overrides of the upload sampling policy (cameras[].upload). */
export const CameraUpload = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ description: 'Off: nothing of this camera is sampled (requested samples and review labels still are).' })),
    defects: Type.Optional(Type.Boolean({ description: 'Overrides upload.defects for this camera.' })),
    uncertain: Type.Optional(Type.Boolean({ description: 'Overrides upload.uncertain for this camera.' })),
    okSampleFraction: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Overrides upload.okSampleFraction for this camera.' })),
    maxPerHour: Type.Optional(Type.Integer({ minimum: 0, description: 'Overrides upload.maxPerHourPerCamera for this camera.' })),
  },
  { additionalProperties: false, description: 'Upload sampling overrides for this camera.' },
);
