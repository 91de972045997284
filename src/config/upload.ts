// Config section `upload` (Blob Storage), owned by src/upload.
import { Type } from '@sinclair/typebox';

export const UploadSection = Type.Object(
  {
    enabled: Type.Boolean({ default: false }),
    connectionString: Type.Optional(Type.String({ description: 'Blob Storage connection string (secret; never logged).' })),
    sasUrl: Type.Optional(Type.String({ description: 'Container SAS URL (secret; never logged).' })),
    container: Type.String({ default: 'visor-samples' }),
    line: Type.String({ default: 'line-1', description: 'Production line name, the first part of every blob name.' }),
    okSampleFraction: Type.Number({ minimum: 0, maximum: 1, default: 0.01 }),
    maxPerHourPerCamera: Type.Integer({ minimum: 0, default: 600 }),
  },
  { additionalProperties: false, default: {} },
);

/** Per-camera overrides of the upload sampling policy (cameras[].upload). */
export const CameraUpload = Type.Object(
  {
    okSampleFraction: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Overrides upload.okSampleFraction for this camera.' })),
    maxPerHour: Type.Optional(Type.Integer({ minimum: 0, description: 'Overrides upload.maxPerHourPerCamera for this camera.' })),
  },
  { additionalProperties: false, description: 'Upload sampling overrides for this camera.' },
);
