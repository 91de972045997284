// Config section `review` (the review UI), owned by src/review.
import { Type } from '@sinclair/typebox';

export const ReviewAuth = Type.Object(
  {
    sessionTtlHours: Type.Number({ exclusiveMinimum: 0, maximum: 720, default: 12, description: 'A sign-in lasts this long (hours), then the user signs in again.' }),
    secureCookies: Type.Union([Type.Literal('auto'), Type.Literal('always'), Type.Literal('never')], {
      default: 'auto',
      description: 'Mark the session cookie Secure: "auto" when the request came over HTTPS (directly, or through a trusted proxy), "always" behind a TLS-terminating proxy that is not trusted for headers.',
    }),
    trustProxy: Type.Boolean({ default: false, description: 'Trust X-Forwarded-* headers (only behind your own reverse proxy): client address for rate limits, https for Secure cookies.' }),
    firstAdminSetup: Type.Boolean({
      default: true,
      description:
        'While no user exists and the UI is bound to a loopback address, the UI offers to create the first admin from this machine, with the one-time setup code Visor prints on stderr and in the log (warn) at start. Otherwise create users with `visor user add`.',
    }),
    loginAttemptsPerMinute: Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'Sign-in attempts allowed per client address per minute.' }),
    loginBackoffMaxSeconds: Type.Number({
      minimum: 1,
      maximum: 3600,
      default: 60,
      description:
        'Per account, from any address: after 5 failed sign-ins in a row the account refuses sign-ins (429) for 1 s, doubling with every further failure up to this cap; a successful sign-in resets it. Refused attempts do not lengthen the wait.',
    }),
    maxEventStreamsPerUser: Type.Integer({ minimum: 1, maximum: 1000, default: 8, description: 'Live-update streams (/api/events, one per open tab) a user may hold at once; one more is refused with 429.' }),
    publicMetrics: Type.Boolean({ default: false, description: 'Serve /metrics without a session or API token (for scrapers that cannot send a bearer token). /healthz is always public.' }),
  },
  { additionalProperties: false, default: {} },
);

export const ReviewSection = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    host: Type.String({
      default: '127.0.0.1',
      description: 'Interface the review UI binds to. Only localhost by default; every page except /healthz needs a signed-in user or an API token. Put a TLS proxy in front when binding beyond localhost.',
    }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: '0 picks a free port.' }),
    allowedHosts: Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+)$' }), {
      default: [],
      description:
        'Host names (or addresses) the UI may be reached by, besides localhost, 127.0.0.1, [::1] and review.host itself; any port. Every request with another Host header is refused (421), and a state-changing request from a page of another origin is refused (403): this stops DNS rebinding. List the names users type when binding beyond localhost, e.g. [visor-line3.plant.example, 10.0.4.17].',
    }),
    auth: ReviewAuth,
    shifts: Type.Array(Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM, local time.' }), {
      minItems: 1,
      maxItems: 24,
      uniqueItems: true,
      default: ['06:00', '14:00', '22:00'],
      description: 'Start times of the shifts (local time of the device, 24-hour HH:MM); a shift runs until the next one starts. The line board counts the current shift from the latest start.',
    }),
    thresholdConfirmChange: Type.Number({
      exclusiveMinimum: 0,
      default: 0.25,
      description:
        'A threshold change in the UI that moves the defect threshold or the start of the uncertain band by more than this fraction of its value in force must be confirmed (the API answers 409 CONFIRM without `confirm: true`).',
    }),
  },
  { additionalProperties: false, default: {} },
);
