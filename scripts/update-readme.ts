// Writes the configuration reference (rendered from the schema) into README.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { configReference } from '../src/config/index.js';

const file = new URL('../README.md', import.meta.url);
const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';
const readme = readFileSync(file, 'utf8');
const [before, rest] = readme.split(START);
const after = rest?.split(END)[1];
if (before === undefined || after === undefined) throw new Error(`README.md lacks the ${START} … ${END} markers`);
writeFileSync(file, `${before}${START}\n${configReference()}\n${END}${after}`);
