// Writes the references rendered from their schemas: the configuration into README.md, the model
// manifest (model.json) into docs/models.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { configReference, schemaReference } from '../src/config/index.js';
import { ManifestSchema } from '../src/inference/manifest.js';

function fill(relative: string, marker: string, content: string): void {
  const file = new URL(`../${relative}`, import.meta.url);
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const text = readFileSync(file, 'utf8');
  const [before, rest] = text.split(start);
  const after = rest?.split(end)[1];
  if (before === undefined || after === undefined) throw new Error(`${relative} lacks the ${start} … ${end} markers`);
  writeFileSync(file, `${before}${start}\n${content}\n${end}${after}`);
}

fill('README.md', 'config-reference', configReference());
fill('docs/models.md', 'manifest-reference', schemaReference(ManifestSchema));
