// Recipes: per station, which model package and thresholds apply, selected by index by the
// PLC (or the API) for a product changeover. A switch waits until the station has no part
// waiting for its result, so a part is inspected with one recipe from trigger to result,
// and every switch is recorded (recipe_changes).
import { ConfigError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Config, RecipeConfig } from '../config/schema.js';
import { resolvePath } from '../config/paths.js';
import { resolveThresholds } from '../inference/index.js';
import type { LineControl } from '../line/control.js';
import type { Parts } from '../store/parts.js';
import type { Station } from './station.js';

export interface RecipesDeps {
  config: Config;
  parts: Parts;
  control: Pick<LineControl, 'inferencer' | 'modelDir' | 'swapModel' | 'setThresholds'>;
  baseDir: string;
  log: Logger;
}

export interface Recipes {
  /** Index in force for a station, -1 without recipes. */
  current(stationId: string): number;
  /** Switches between parts; throws ConfigError for an unknown station or index (the running recipe stays). */
  select(stationId: string, index: number, source: string): Promise<void>;
  attach(stations: Station[]): void;
  /** Applies each station's starting recipe. */
  start(): Promise<void>;
}

export function createRecipes(deps: RecipesDeps): Recipes {
  const { config, parts, control } = deps;
  const log = deps.log.child({ module: 'stations' });
  const current = new Map<string, number>();
  const stations = new Map<string, Station>();
  // One switch at a time per line: the model is the line's.
  let switching: Promise<void> = Promise.resolve();

  function recipeOf(stationId: string, index: number): RecipeConfig {
    const station = config.stations.find((s) => s.id === stationId);
    if (!station) throw new ConfigError([`stationId: no station "${stationId}"`]);
    const recipe = station.recipes.find((r) => r.index === index);
    if (!recipe) throw new ConfigError([`stations.${stationId}.recipe: no recipe with index ${index} (known: ${station.recipes.map((r) => r.index).join(', ') || 'none'})`]);
    return recipe;
  }

  async function apply(stationId: string, recipe: RecipeConfig, source: string): Promise<void> {
    const station = config.stations.find((s) => s.id === stationId)!;
    const dir = resolvePath(deps.baseDir, recipe.model ?? config.model.package);
    if (dir !== control.modelDir) await control.swapModel(dir);
    // Absolute thresholds: what a recipe leaves out comes from the model and the config, not from the previous recipe.
    const manifest = control.inferencer.manifest.thresholds;
    for (const cameraId of station.cameras) {
      const camera = config.cameras.find((c) => c.id === cameraId);
      const base = resolveThresholds(manifest, config.model.thresholds, camera?.thresholds);
      control.setThresholds({ ...base, ...recipe.thresholds }, { cameraId, source: `recipe:${stationId}:${recipe.index}` });
    }
    const from = current.get(stationId);
    current.set(stationId, recipe.index);
    parts.recipeChanged({ stationId, fromIndex: from ?? null, toIndex: recipe.index, source, changedAt: Date.now() });
    stations.get(stationId)?.handshake.recipe(recipe.index);
    log.info({ stationId, recipe: recipe.index, name: recipe.name, from, source }, 'recipe selected');
  }

  return {
    current: (stationId) => current.get(stationId) ?? -1,
    async select(stationId, index, source) {
      const recipe = recipeOf(stationId, index);
      const run = switching.then(async () => {
        if (current.get(stationId) === index) return;
        await stations.get(stationId)?.idle();
        await apply(stationId, recipe, source);
      });
      switching = run.catch(() => {});
      return run.catch((err: unknown) => {
        log.error({ err, stationId, index, detail: errorMessage(err) }, 'recipe refused; the running one stays');
        throw err;
      });
    },
    attach(list) {
      for (const s of list) stations.set(s.id, s);
    },
    async start() {
      for (const station of config.stations) {
        if (station.recipes.length === 0) continue;
        await apply(station.id, recipeOf(station.id, station.recipe ?? station.recipes[0]!.index), 'config');
      }
    },
  };
}
