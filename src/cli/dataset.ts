// `visor dataset pull`: retraining data for ML teams, from the container Visor uploads to.
import { Option, type Command } from 'commander';
import { ConfigError } from '../common/errors.js';
import { redactText } from '../common/log.js';
import type { Progress } from '../modelling/fit/index.js';
import { integer } from './args.js';
import { cliProgress } from './progress.js';

interface PullCliOptions {
  container?: string;
  containerName: string;
  out: string;
  since?: string;
  until?: string;
  camera?: string;
  label?: string;
  reviewedOnly?: boolean;
  model?: string;
  modelName?: string;
  line?: string;
  concurrency: number;
  tags: boolean;
  progress: boolean;
}

function parseDate(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new ConfigError([`${flag}: not a date or time (expected e.g. 2025-03-01 or 2025-03-01T06:00:00Z): ${value}`]);
  return date;
}

export async function datasetPullCommand(options: PullCliOptions): Promise<void> {
  let result;
  let bar: Progress | undefined;
  let shown = 0;
  try {
    if (!options.container) throw new ConfigError(['--container: required (or set VISOR_DATASET_CONTAINER)']);
    const [{ containerFromArgument }, { pullDataset }] = await Promise.all([import('../upload/blob.js'), import('../upload/pull.js')]);
    const target = containerFromArgument(options.container, options.containerName, { timeoutMs: 120_000 });
    const since = parseDate('--since', options.since);
    const until = parseDate('--until', options.until);
    // Progress goes to stderr: stdout carries the summary for scripts.
    const progress = options.progress ? cliProgress() : undefined;
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort(new Error('interrupted')));
    result = await pullDataset({
      target,
      out: options.out,
      since,
      until,
      camera: options.camera,
      label: options.label,
      reviewedOnly: options.reviewedOnly,
      modelVersion: options.model,
      modelName: options.modelName,
      line: options.line,
      concurrency: options.concurrency,
      useTags: options.tags,
      signal: abort.signal,
      onProgress: (done, total) => {
        if (!progress) return;
        bar ??= progress('pull samples', total);
        for (; shown < done; shown++) bar.tick();
      },
    });
  } finally {
    bar?.stop();
  }
  const { LABELS_FILE, RECORDS_FILE } = await import('../upload/pull.js');
  const { failed, ...summary } = result;
  process.stdout.write(`${JSON.stringify({ ...summary, failed: failed.length, out: options.out, manifests: [LABELS_FILE, RECORDS_FILE] })}\n`);
  for (const f of failed.slice(0, 20)) process.stderr.write(`failed: ${f.blob}: ${redactText(f.error)}\n`);
  if (failed.length > 0) {
    process.stderr.write(`${failed.length} sample(s) failed; run the same command again to fetch what is missing\n`);
    process.exitCode = 1;
  }
}

/** Adds `visor dataset …` to the program. */
export function registerDatasetCommands(program: Command): void {
  const dataset = program.command('dataset').description('Retraining data uploaded by Visor lines');
  dataset
    .command('pull')
    .description('Download the samples matching a filter with labels.csv and records.jsonl; resumable (run again to fetch what is missing)')
    .addOption(
      new Option('--container <url-or-connection>', 'container URL (https://ACCOUNT.blob.core.windows.net/CONTAINER?SAS; needs r, l and f permissions) or a storage connection string').env(
        'VISOR_DATASET_CONTAINER',
      ),
    )
    .option('--container-name <name>', 'container, when --container is a connection string', 'visor-samples')
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('--since <date>', 'captured at or after (ISO date or time; UTC unless an offset is given)')
    .option('--until <date>', 'captured before')
    .option('--camera <id>', 'only this camera')
    .option('--label <label>', 'only this label (good, defect, uncertain or a class)')
    .option('--reviewed-only', 'only samples a reviewer has labelled')
    .option('--model <version>', 'only samples scored by this model version')
    .option('--model-name <name>', 'only samples scored by this model')
    .option('--line <line>', 'only this production line')
    .option('--concurrency <n>', 'parallel downloads', integer(), 8)
    .option('--no-tags', 'list the container and filter locally instead of querying index tags')
    .option('--no-progress', 'no progress on stderr (a bar on a terminal, else a line every few seconds)')
    .action(datasetPullCommand);
}
