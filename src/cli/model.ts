// `visor model init` and `visor model check`: bring your own model (docs/models.md).
// Exit codes: 0 ok, 1 the check found mistakes or a run failed, 2 bad usage or a package that cannot load.
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { ModelPackageError, errorMessage } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { checkModelPackage, EXPORT_FAMILIES, initModelPackage, type CheckReport, type ExportFamily, type InitResult } from '../inference/index.js';

function parseSize(v: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(v);
  if (!m) throw new InvalidArgumentError('expected WIDTHxHEIGHT, e.g. 256x256');
  return { width: Number(m[1]), height: Number(m[2]) };
}

function parseFamily(v: string): ExportFamily {
  if (!(EXPORT_FAMILIES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${EXPORT_FAMILIES.join(', ')}`);
  return v as ExportFamily;
}

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

export function formatInit(r: InitResult): string {
  const lines = [`${r.family} export → ${r.dir} (task ${r.manifest.task})`];
  const width = Math.max(...r.fields.map((f) => f.field.length));
  for (const f of r.fields) lines.push(`  ${f.how === 'inferred' ? 'inferred ' : 'default  '} ${f.field.padEnd(width)}  ${show(f.value)}  (${f.from})`);
  if (r.rewritten) lines.push(`  model.onnx: ${r.rewritten}`);
  lines.push(`  sha256 ${r.manifest.sha256}`, `next: visor model check ${r.dir} [IMAGES…]`);
  return lines.join('\n');
}

export function formatCheck(r: CheckReport): string {
  const m = r.manifest;
  const lines = [`${m.name} ${m.version}: ${m.task}, input ${m.input.width}x${m.input.height} ${m.input.channels}, thresholds defect ${m.thresholds.defect} band ${m.thresholds.uncertainBand}`];
  lines.push('outputs:');
  for (const o of r.outputs) lines.push(`  ${o.name} [${o.dims.join(',')}]: ${o.min} .. ${o.max}${o.nan ? `, ${o.nan} NaN` : ''}`);
  lines.push('images:');
  for (const i of r.images) {
    const detail = i.classes ? ` ${i.classes.map((c) => `${c.label} ${c.score.toFixed(3)}`).join(', ')}` : i.boxes ? ` ${i.boxes.length} boxes${i.boxes.slice(0, 3).map((b) => ` ${b.label} ${b.score.toFixed(2)} [${[b.x1, b.y1, b.x2, b.y2].map((v) => Math.round(v)).join(',')}]`).join('')}` : '';
    lines.push(`  ${i.verdict.padEnd(9)} ${i.score.toFixed(4)}  ${i.source}${detail}`);
  }
  if (r.findings.length === 0) lines.push('no problems found');
  for (const f of r.findings) lines.push(`${f.level}: ${f.message}`);
  return lines.join('\n');
}

export function registerModelCommands(program: Command): void {
  const model = program
    .command('model')
    .description('Bring your own model: make and check model packages from ONNX exports')
    // Usage errors (unknown option, bad --from or --size) are exit 2 here, not commander's 1; inherited by the subcommands.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
  model
    .command('init')
    .description('Write a model package (model.json + model.onnx) from an ONNX export, saying what was inferred and what defaulted')
    .requiredOption('--onnx <file>', 'the exported ONNX graph')
    .requiredOption('--out <dir>', 'package folder to write')
    .option('--from <exporter>', `the exporter: ${EXPORT_FAMILIES.join(', ')} (default: recognised from the graph)`, parseFamily)
    .option('--labels <file>', 'class names, one per line (e.g. Custom Vision labels.txt)')
    .option('--name <name>', 'package name (default: from the file name)')
    .option('--size <WxH>', 'input size when the graph leaves it free', parseSize)
    .action(async (o: { onnx: string; out: string; from?: ExportFamily; labels?: string; name?: string; size?: { width: number; height: number } }) => {
      try {
        const result = await initModelPackage({
          onnxFile: path.resolve(o.onnx),
          outDir: o.out,
          ...(o.from ? { from: o.from } : {}),
          ...(o.labels ? { labelsFile: path.resolve(o.labels) } : {}),
          ...(o.name ? { name: o.name } : {}),
          ...(o.size ? { size: o.size } : {}),
        });
        process.stdout.write(`${formatInit(result)}\n`);
      } catch (err) {
        process.stderr.write(`visor model init: ${errorMessage(err)}\n`);
        process.exitCode = err instanceof ModelPackageError ? 2 : 1;
      }
    });
  model
    .command('check')
    .description('Validate a model package, run it on images (built-in probes when none are given) and flag the usual mistakes')
    .argument('<dir>', 'model package folder')
    .argument('[images...]', 'image files to run')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, images: string[], o: { json?: boolean }) => {
      const log = createLogger({ level: 'warn', destination: process.stderr });
      try {
        const report = await checkModelPackage(path.resolve(dir), images, { log, threads: 1 });
        process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatCheck(report)}\n`);
        if (report.findings.some((f) => f.level === 'error')) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`visor model check: ${errorMessage(err)}\n`);
        process.exitCode = err instanceof ModelPackageError ? 2 : 1;
      }
    });
}
