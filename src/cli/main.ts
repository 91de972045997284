// The `visor` command.
import { Command } from 'commander';
import { runCommand } from './run.js';
import { inspectCommand } from './inspect.js';
import { configCheckCommand, configDocsCommand } from './config.js';
import { VERSION } from '../common/version.js';
import { registerBackboneCommands } from './backbone.js';
import { registerDatasetCommands } from './dataset.js';
import { registerFitCommands } from './fit.js';
import { registerManifestCommands } from './manifest.js';
import { registerModelCommands } from './model.js';
import { registerUserCommands } from './user.js';
import { integer } from './args.js';
import { runProgram } from './exit.js';

const program = new Command()
  .name('visor')
  .description('Computer-vision quality inspection at the edge')
  .version(VERSION)
  .showHelpAfterError();

program
  .command('run')
  .description('Run the inspection line until SIGINT/SIGTERM (no --config: the demo line)')
  .option('-c, --config <file>', 'config file (YAML or JSON)')
  .action(runCommand);

program
  .command('inspect')
  .description('Inspect image files and folders (at any depth) with a model package; prints one JSON line per image')
  .requiredOption('-m, --model <dir>', 'model package folder')
  .option('--threads <n>', 'onnxruntime intra-op threads (0 = onnxruntime decides)', integer(0), 1)
  .option('-o, --out <dir>', 'write a heat-map or box overlay per image and inspect.csv (path, verdict, score, label, threshold, ms) here')
  .argument('<images...>', 'image files or folders')
  .action(inspectCommand);

const config = program.command('config').description('Configuration tools');
config
  .command('check')
  .description('Validate a config file (with VISOR_* overrides); prints every error by key path')
  .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
  .action(configCheckCommand);
config.command('docs').description('Print the configuration reference (Markdown)').action(configDocsCommand);

registerFitCommands(program);
registerBackboneCommands(program);
registerDatasetCommands(program);
registerUserCommands(program);
registerManifestCommands(program);
registerModelCommands(program);

await runProgram(program, process.argv);
