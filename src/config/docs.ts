// Renders the configuration reference (README "Configuration") from the schema, and any other schema's the same way.
import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema } from './schema.js';

interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

function typeOf(schema: TSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (Array.isArray(schema.anyOf)) return schema.anyOf.map((s: TSchema) => typeOf(s)).join(' \\| ');
  if (Array.isArray(schema.allOf) && schema.allOf.length === 1) return typeOf(schema.allOf[0] as TSchema);
  if (schema.type === 'array') return `${typeOf(schema.items as TSchema)}[]`;
  const bounds: string[] = [];
  if (schema.minimum !== undefined) bounds.push(`≥ ${schema.minimum}`);
  if (schema.exclusiveMinimum !== undefined) bounds.push(`> ${schema.exclusiveMinimum}`);
  if (schema.maximum !== undefined) bounds.push(`≤ ${schema.maximum}`);
  return bounds.length ? `${schema.type} (${bounds.join(', ')})` : String(schema.type);
}

function walk(schema: TSchema, prefix: string, rows: Row[], required: boolean): void {
  const inner = Array.isArray(schema.allOf) && schema.allOf.length === 1 ? { ...(schema.allOf[0] as TSchema), description: schema.description } : schema;
  if (inner.type === 'object' && inner.properties) {
    if (prefix && inner.description) rows.push({ key: prefix, type: 'object', default: required ? 'required' : '', description: inner.description });
    const req = new Set<string>((inner.required as string[]) ?? []);
    for (const [key, child] of Object.entries(inner.properties as Record<string, TSchema>)) {
      walk(child, prefix ? `${prefix}.${key}` : key, rows, req.has(key) && (child.default === undefined));
    }
    return;
  }
  if (inner.type === 'array' && (inner.items as TSchema).type === 'object') {
    rows.push({ key: prefix, type: 'list', default: required ? 'required' : '', description: inner.description ?? '' });
    walk(inner.items as TSchema, `${prefix}[]`, rows, false);
    return;
  }
  const def = inner.default !== undefined ? `\`${JSON.stringify(inner.default)}\`` : required ? 'required' : '';
  rows.push({ key: prefix, type: typeOf(inner), default: def, description: inner.description ?? '' });
}

export function configReference(): string {
  return schemaReference(ConfigSchema);
}

/** Any TypeBox object schema as a key | type | default | description table (also the model manifest's, docs/models.md). */
export function schemaReference(schema: TSchema): string {
  const rows: Row[] = [];
  walk(schema, '', rows, true);
  const lines = ['| key | type | default | description |', '| --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| \`${r.key}\` | ${r.type} | ${r.default} | ${r.description.replace(/\|/g, '\\|')} |`);
  return lines.join('\n');
}
