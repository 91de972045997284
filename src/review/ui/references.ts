/// <reference lib="dom" />
// Each camera's reference (golden) frame, fetched once per page load and kept current when set here.
import { api } from './api.js';

export interface Reference {
  id: string;
  imageUrl: string;
  setBy: string;
  setAt: number;
}

let cache: Promise<Record<string, Reference>> | undefined;

export function references(): Promise<Record<string, Reference>> {
  cache ??= api<{ references: Record<string, Reference> }>('/api/references').then(
    (r) => r.references,
    () => ({}),
  );
  return cache;
}

export async function setReference(cameraId: string, id: string): Promise<Reference> {
  await api(`/api/references/${cameraId}`, { method: 'PUT', body: { id } });
  cache = undefined;
  const all = await references();
  return all[cameraId]!;
}
