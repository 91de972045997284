// The Kubernetes manifest (edge-manifest/kubernetes) for Arc-enabled Kubernetes / Azure IoT
// Operations sites. No cluster here, and no npm package in the project ships Kubernetes' OpenAPI
// schemas, so the fields Visor relies on are written out below as TypeBox schemas with the
// Kubernetes API's names and types (unknown fields refused, so a misspelt probe fails), and the
// pieces are checked against each other, the image and Visor's own config schema.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { checkModuleEnvironment } from '../../src/deploy/manifest.js';
import { allowedHostNames } from '../../src/review/hosts.js';
import { REPO } from '../helpers/paths.js';

const DIR = path.join(REPO, 'edge-manifest/kubernetes');
const MODULE_CONFIG = path.join(REPO, 'config/edge.yaml');

const strict = <T extends Record<string, TSchema>>(props: T, required: (keyof T)[] = []) =>
  Type.Object(
    Object.fromEntries(Object.entries(props).map(([k, v]) => [k, required.includes(k) ? v : Type.Optional(v)])) as T,
    { additionalProperties: false },
  );
const Name = Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 });
const Labels = Type.Record(Type.String({ pattern: '^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$' }), Type.String({ maxLength: 63 }));
const Quantity = Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$' });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const IntOrName = Type.Union([Port, Name]);
const Protocol = Type.Union([Type.Literal('TCP'), Type.Literal('UDP'), Type.Literal('SCTP')]);
const Metadata = strict({ name: Name, namespace: Name, labels: Labels, annotations: Type.Record(Type.String(), Type.String()) }, ['name']);
const Probe = strict({
  httpGet: strict({ path: Type.String({ pattern: '^/' }), port: IntOrName, scheme: Type.Union([Type.Literal('HTTP'), Type.Literal('HTTPS')]), httpHeaders: Type.Array(strict({ name: Type.String(), value: Type.String() }, ['name', 'value'])) }, ['path', 'port']),
  initialDelaySeconds: Type.Integer({ minimum: 0 }),
  periodSeconds: Type.Integer({ minimum: 1 }),
  timeoutSeconds: Type.Integer({ minimum: 1 }),
  failureThreshold: Type.Integer({ minimum: 1 }),
  successThreshold: Type.Integer({ minimum: 1 }),
});
const EnvVar = Type.Union([
  strict({ name: Type.String(), value: Type.String() }, ['name', 'value']),
  strict({ name: Type.String(), valueFrom: strict({ secretKeyRef: strict({ name: Name, key: Type.String(), optional: Type.Boolean() }, ['name', 'key']) }, ['secretKeyRef']) }, ['name', 'valueFrom']),
]);
const Resources = strict({ requests: Type.Record(Type.String(), Quantity), limits: Type.Record(Type.String(), Quantity) });
const Container = strict(
  {
    name: Name,
    image: Type.String({ minLength: 1 }),
    args: Type.Array(Type.String()),
    ports: Type.Array(strict({ name: Type.String({ maxLength: 15 }), containerPort: Port, protocol: Protocol }, ['containerPort'])),
    env: Type.Array(EnvVar),
    startupProbe: Probe,
    readinessProbe: Probe,
    livenessProbe: Probe,
    resources: Resources,
    securityContext: strict({ allowPrivilegeEscalation: Type.Boolean(), readOnlyRootFilesystem: Type.Boolean(), capabilities: strict({ drop: Type.Array(Type.String()), add: Type.Array(Type.String()) }) }),
    volumeMounts: Type.Array(strict({ name: Name, mountPath: Type.String({ pattern: '^/' }), readOnly: Type.Boolean() }, ['name', 'mountPath'])),
  },
  ['name', 'image'],
);
const Deployment = strict(
  {
    apiVersion: Type.Literal('apps/v1'),
    kind: Type.Literal('Deployment'),
    metadata: Metadata,
    spec: strict(
      {
        replicas: Type.Integer({ minimum: 0 }),
        strategy: strict({ type: Type.Union([Type.Literal('Recreate'), Type.Literal('RollingUpdate')]) }, ['type']),
        selector: strict({ matchLabels: Labels }, ['matchLabels']),
        template: strict(
          {
            metadata: strict({ labels: Labels, annotations: Type.Record(Type.String(), Type.String()) }),
            spec: strict(
              {
                terminationGracePeriodSeconds: Type.Integer({ minimum: 0 }),
                securityContext: strict({
                  runAsUser: Type.Integer({ minimum: 0 }),
                  runAsGroup: Type.Integer({ minimum: 0 }),
                  runAsNonRoot: Type.Boolean(),
                  fsGroup: Type.Integer({ minimum: 0 }),
                  fsGroupChangePolicy: Type.Union([Type.Literal('OnRootMismatch'), Type.Literal('Always')]),
                  seccompProfile: strict({ type: Type.Union([Type.Literal('RuntimeDefault'), Type.Literal('Localhost'), Type.Literal('Unconfined')]) }, ['type']),
                }),
                containers: Type.Array(Container, { minItems: 1 }),
                volumes: Type.Array(
                  Type.Union([
                    strict({ name: Name, persistentVolumeClaim: strict({ claimName: Name, readOnly: Type.Boolean() }, ['claimName']) }, ['name', 'persistentVolumeClaim']),
                    strict({ name: Name, emptyDir: strict({ medium: Type.String(), sizeLimit: Quantity }) }, ['name', 'emptyDir']),
                  ]),
                ),
              },
              ['containers'],
            ),
          },
          ['metadata', 'spec'],
        ),
      },
      ['selector', 'template'],
    ),
  },
  ['apiVersion', 'kind', 'metadata', 'spec'],
);
const AccessMode = Type.Union([Type.Literal('ReadWriteOnce'), Type.Literal('ReadWriteOncePod'), Type.Literal('ReadOnlyMany'), Type.Literal('ReadWriteMany')]);
const Pvc = strict(
  {
    apiVersion: Type.Literal('v1'),
    kind: Type.Literal('PersistentVolumeClaim'),
    metadata: Metadata,
    spec: strict({ accessModes: Type.Array(AccessMode, { minItems: 1 }), storageClassName: Type.String(), resources: strict({ requests: strict({ storage: Quantity }, ['storage']) }, ['requests']) }, ['accessModes', 'resources']),
  },
  ['apiVersion', 'kind', 'metadata', 'spec'],
);
const Service = strict(
  {
    apiVersion: Type.Literal('v1'),
    kind: Type.Literal('Service'),
    metadata: Metadata,
    spec: strict(
      {
        type: Type.Union([Type.Literal('ClusterIP'), Type.Literal('NodePort'), Type.Literal('LoadBalancer')]),
        selector: Labels,
        ports: Type.Array(strict({ name: Type.String(), port: Port, targetPort: IntOrName, protocol: Protocol }, ['port']), { minItems: 1 }),
      },
      ['selector', 'ports'],
    ),
  },
  ['apiVersion', 'kind', 'metadata', 'spec'],
);
const Secret = strict(
  { apiVersion: Type.Literal('v1'), kind: Type.Literal('Secret'), metadata: Metadata, type: Type.String(), stringData: Type.Record(Type.String(), Type.String()), data: Type.Record(Type.String(), Type.String()) },
  ['apiVersion', 'kind', 'metadata'],
);
const Kustomization = strict(
  {
    apiVersion: Type.Literal('kustomize.config.k8s.io/v1beta1'),
    kind: Type.Literal('Kustomization'),
    resources: Type.Array(Type.String()),
    images: Type.Array(strict({ name: Type.String(), newName: Type.String(), newTag: Type.String() }, ['name'])),
  },
  ['apiVersion', 'kind', 'resources'],
);
const SCHEMAS: Record<string, TSchema> = { Deployment, PersistentVolumeClaim: Pvc, Service, Secret, Kustomization };

type Doc = Record<string, any>;
function load(): Map<string, Doc> {
  const docs = new Map<string, Doc>();
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(path.join(DIR, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      docs.set((doc.toJS() as Doc).kind, { ...(doc.toJS() as Doc), file });
    }
  }
  return docs;
}

/** Every problem with the manifests, as "file: path: message". */
function issuesOf(docs: Map<string, Doc>): string[] {
  const issues: string[] = [];
  for (const [kind, doc] of docs) {
    const { file, ...body } = doc;
    const schema = SCHEMAS[kind];
    if (!schema) {
      issues.push(`${file}: kind ${kind} is not checked here`);
      continue;
    }
    for (const e of Value.Errors(schema, body)) issues.push(`${file}: ${e.path || '/'}: ${e.message}`);
  }
  if (issues.length > 0) return issues;

  const deployment = docs.get('Deployment')!;
  const spec = deployment.spec;
  const pod = spec.template.spec;
  const container = pod.containers[0];
  const labelsMatch = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
  const kustomization = docs.get('Kustomization')!;
  for (const resource of kustomization.resources) if (![...docs.values()].some((d) => d.file === resource)) issues.push(`kustomization.yaml: resource ${resource} does not exist`);
  if (!labelsMatch(spec.selector.matchLabels, spec.template.metadata.labels)) issues.push('deployment.yaml: spec.selector does not match the pod labels');
  if (!labelsMatch(docs.get('Service')!.spec.selector, spec.template.metadata.labels)) issues.push('service.yaml: spec.selector does not match the pod labels');

  // One writer of the SQLite database on a ReadWriteOnce volume.
  if (spec.replicas !== 1 || spec.strategy?.type !== 'Recreate') issues.push('deployment.yaml: one replica with the Recreate strategy (the database has one writer)');

  // The container's environment over config/edge.yaml must be a valid Visor config; secrets count as set.
  const secret = docs.get('Secret')!;
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if ('value' in e) env[e.name] = e.value;
    else if (e.valueFrom.secretKeyRef.name !== secret.metadata.name || !(e.valueFrom.secretKeyRef.key in (secret.stringData ?? secret.data ?? {}))) {
      issues.push(`deployment.yaml: env ${e.name}: secret ${e.valueFrom.secretKeyRef.name} has no key ${e.valueFrom.secretKeyRef.key}`);
    } else env[e.name] = secret.stringData?.[e.valueFrom.secretKeyRef.key] ?? '';
  }
  const { config, issues: configIssues } = checkModuleEnvironment(env, MODULE_CONFIG, 'deployment.yaml: env');
  issues.push(...configIssues);
  if (!config) return issues;

  const ports = new Map<string, number>((container.ports ?? []).map((p: Doc) => [p.name, p.containerPort]));
  const portOf = (p: string | number) => (typeof p === 'number' ? p : ports.get(p));
  if (![...ports.values()].includes(config.review.port)) issues.push(`deployment.yaml: no containerPort for the UI's port ${config.review.port}`);
  for (const p of docs.get('Service')!.spec.ports) if (portOf(p.targetPort ?? p.port) !== config.review.port) issues.push(`service.yaml: port ${p.port} does not reach the UI's port ${config.review.port}`);
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const get = container[probe]?.httpGet;
    if (!get) {
      issues.push(`deployment.yaml: ${probe}: missing`);
      continue;
    }
    if (get.path !== '/healthz') issues.push(`deployment.yaml: ${probe}: path ${get.path}, not /healthz`);
    if (portOf(get.port) !== config.review.port) issues.push(`deployment.yaml: ${probe}: port ${get.port} is not the UI's port ${config.review.port}`);
    // The kubelet sends the pod's address as Host unless told otherwise; the UI answers only to its names.
    const host = get.httpHeaders?.find((h: Doc) => h.name.toLowerCase() === 'host')?.value;
    if (!host || !allowedHostNames(config.review).has(host.toLowerCase())) issues.push(`deployment.yaml: ${probe}: Host ${host ?? "(the pod's address)"} is refused by the UI (421)`);
  }

  // The data volume is mounted where the config keeps its data, from the claim in pvc.yaml.
  const dataVolume = pod.volumes?.find((v: Doc) => v.persistentVolumeClaim?.claimName === docs.get('PersistentVolumeClaim')!.metadata.name);
  const mount = container.volumeMounts?.find((m: Doc) => m.name === dataVolume?.name);
  if (!mount || mount.mountPath !== config.store.dataDir) issues.push(`deployment.yaml: the claim is not mounted at store.dataDir (${config.store.dataDir})`);

  // The pod runs as the image's user, and the volume is made writable for it.
  const user = /^USER (\d+):(\d+)$/m.exec(readFileSync(path.join(REPO, 'edge-manifest/Dockerfile'), 'utf8'));
  const sc = pod.securityContext ?? {};
  if (!user || sc.runAsUser !== Number(user[1]) || sc.fsGroup !== Number(user[2])) issues.push(`deployment.yaml: securityContext runAsUser/fsGroup must be the image's USER ${user?.[1]}:${user?.[2]}`);
  if ((pod.terminationGracePeriodSeconds ?? 30) < 30) issues.push('deployment.yaml: terminationGracePeriodSeconds below 30 s cuts the SIGTERM shutdown short');
  return issues;
}

describe('Kubernetes manifest', () => {
  it('has a Deployment, PVC, ClusterIP Service, Secret and kustomization that pass the schemas and agree with each other and the image', () => {
    const docs = load();
    expect([...docs.keys()].sort()).toEqual(['Deployment', 'Kustomization', 'PersistentVolumeClaim', 'Secret', 'Service']);
    expect(docs.get('Service')!.spec.type).toBe('ClusterIP');
    expect(issuesOf(docs)).toEqual([]);
  });

  it('catches a misspelt field, a wrong type, a probe the UI would refuse and a config Visor would refuse', () => {
    const docs = load();
    const container = docs.get('Deployment')!.spec.template.spec.containers[0];
    container.livenesProbe = container.livenessProbe;
    docs.get('PersistentVolumeClaim')!.spec.resources.requests.storage = 8;
    expect(issuesOf(docs)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^deployment\.yaml: \/spec\/template\/spec\/containers\/0\/livenesProbe: /),
        expect.stringMatching(/^pvc\.yaml: \/spec\/resources\/requests\/storage: Expected string/),
      ]),
    );

    const again = load();
    const c = again.get('Deployment')!.spec.template.spec.containers[0];
    delete c.readinessProbe.httpGet.httpHeaders;
    c.env.push({ name: 'VISOR_REVIEW__PORT', value: '9000' });
    again.get('Deployment')!.spec.template.spec.securityContext.runAsUser = 0;
    expect(issuesOf(again)).toEqual(
      expect.arrayContaining([
        "deployment.yaml: readinessProbe: Host (the pod's address) is refused by the UI (421)",
        "deployment.yaml: no containerPort for the UI's port 9000",
        "service.yaml: port 8080 does not reach the UI's port 9000",
        "deployment.yaml: securityContext runAsUser/fsGroup must be the image's USER 1000:1000",
      ]),
    );

    const invalid = load();
    invalid.get('Deployment')!.spec.template.spec.containers[0].env.push({ name: 'VISOR_STORE__RETENTION_DAYS', value: '-1' });
    expect(issuesOf(invalid)).toEqual(['deployment.yaml: env → store.retentionDays: Expected number to be greater than 0']);
  });
});
