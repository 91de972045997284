// Config section `review` (the review UI), owned by src/review.
import { Type } from '@sinclair/typebox';

export const ReviewSection = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    host: Type.String({ default: '127.0.0.1', description: 'Interface the review UI binds to. Only localhost by default: anything reachable from the network needs authentication.' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: '0 picks a free port.' }),
  },
  { additionalProperties: false, default: {} },
);
