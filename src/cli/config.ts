import { configReference, loadConfig, thresholdIssues, type Config } from '../config/index.js';
import { resolvePath } from '../config/paths.js';
import { ConfigError, errorMessage } from '../common/errors.js';
import { silentLogger } from '../common/log.js';
import type { ModelPackage } from '../inference/index.js';

/**
 * What the schema cannot know but start-up would refuse: the model package (present, its
 * manifest and hash right), the execution providers (available in this onnxruntime build),
 * thresholds in force whose uncertain band is wider than the defect threshold, and the model
 * packages recipes name.
 */
export async function runtimeIssues(config: Config, baseDir: string): Promise<string[]> {
  // Loaded here, not at the top: every `visor` command imports this file, and onnxruntime is heavy.
  const { createInferencer, ExecutionProviderError, loadModelPackage, mapExecutionProviders } = await import('../inference/index.js');
  const issues: string[] = [];
  const providers = (err: unknown) => issues.push(`model.executionProviders: ${errorMessage(err)}`);
  let pkg: ModelPackage | undefined;
  try {
    pkg = await loadModelPackage(resolvePath(baseDir, config.model.package));
  } catch (err) {
    issues.push(`model.package: ${errorMessage(err)}`);
  }
  if (pkg) {
    issues.push(...thresholdIssues(config, pkg.manifest.thresholds));
    // Opened as start-up opens it: the graph against the manifest, each provider actually started.
    try {
      const inferencer = await createInferencer({ pkg, executionProviders: config.model.executionProviders, threads: 1, log: silentLogger() });
      await inferencer.close();
    } catch (err) {
      if (err instanceof ExecutionProviderError) providers(err);
      else issues.push(`model.package: ${errorMessage(err)}`);
    }
  } else {
    try {
      mapExecutionProviders(config.model.executionProviders);
    } catch (err) {
      providers(err);
    }
    // Without the package, what the config alone sets can still be checked.
    if (config.model.thresholds?.defect !== undefined) issues.push(...thresholdIssues(config, { defect: config.model.thresholds.defect, uncertainBand: 0 }));
  }
  // A recipe's own model is loaded only when the PLC or a user switches to it, mid-shift: check it now.
  for (const [i, station] of config.stations.entries()) {
    for (const [j, recipe] of station.recipes.entries()) {
      if (recipe.model === undefined) continue;
      try {
        await loadModelPackage(resolvePath(baseDir, recipe.model));
      } catch (err) {
        issues.push(`stations[${i}].recipes[${j}].model: ${errorMessage(err)}`);
      }
    }
  }
  return issues;
}

export async function configCheckCommand(options: { config: string }): Promise<void> {
  try {
    const { config, baseDir, source } = loadConfig(options.config);
    const issues = await runtimeIssues(config, baseDir);
    if (issues.length > 0) throw new ConfigError(issues, source);
    process.stdout.write(`${source}: ok (${config.cameras.length} camera${config.cameras.length === 1 ? '' : 's'})\n`);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 2;
  }
}

export function configDocsCommand(): void {
  process.stdout.write(`${configReference()}\n`);
}
