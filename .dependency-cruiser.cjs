// The floor plan, checked (test/architecture.test.ts runs it): data flows one way, from the
// shared kernel (common) up to the composition root (app.ts) and the CLI.
//   common ← config ← capture, inference, store ← modelling, line ← events, upload, stations, deploy ← learning ← review ← app.ts ← cli
const folder = (name) => `^src/${name}/`;
/** A folder that may import none of `above` (nor the composition root). */
const layer = (name, from, above, comment) => ({
  name,
  severity: 'error',
  ...(comment ? { comment } : {}),
  from: { path: folder(from) },
  to: { path: above.map(folder).concat('^src/app\\.ts$') },
});
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'Import circles make the order of start-up and the owner of a type unclear.', from: { path: '^src/' }, to: { circular: true } },
    {
      name: 'common-is-the-floor',
      severity: 'error',
      comment: 'The shared kernel (types, errors, ids, log, backoff, geometry) imports nothing of the project above it.',
      from: { path: folder('common') },
      to: { path: '^src/', pathNot: folder('common') },
    },
    layer('capture-knows-frames-only', 'capture', ['inference', 'modelling', 'store', 'line', 'events', 'upload', 'review', 'deploy', 'learning', 'cli']),
    layer('inference-is-runtime-only', 'inference', ['capture', 'modelling', 'store', 'line', 'events', 'upload', 'review', 'deploy', 'learning', 'cli'], 'Runtime inference needs neither the store, the line nor the offline model-building tools.'),
    layer('modelling-reads-no-store', 'modelling', ['capture', 'store', 'line', 'events', 'upload', 'review', 'deploy', 'learning', 'cli'], 'Model building gets reviewed data passed in; it does not open the database.'),
    {
      name: 'modelling-opens-no-database-nor-config',
      severity: 'error',
      comment: 'Model building neither opens SQLite nor loads the line config: the CLI reads the store and passes the reviewed images in.',
      from: { path: folder('modelling') },
      to: { path: ['(^|/)node_modules/better-sqlite3/', '^src/config/load\\.ts$'] },
    },
    layer('store-below-the-line', 'store', ['capture', 'modelling', 'line', 'events', 'upload', 'review', 'deploy', 'learning', 'cli']),
    layer('line-knows-no-extension', 'line', ['events', 'upload', 'review', 'stations', 'deploy', 'learning', 'cli']),
    layer(
      'events-and-upload-below-learning',
      '(events|upload)',
      ['review', 'stations', 'deploy', 'learning', 'cli'],
      'IoT Hub hears of promotions and rollbacks through the bus (modelChange); the learning loop uses the upload module\'s Blob client, not the other way round.',
    ),
    layer(
      'learning-is-an-extension',
      'learning',
      ['review', 'stations', 'deploy', 'cli'],
      'The learning loop gets the line through AppContext; the review server reaches it through the Learning interface it is handed (src/app.ts).',
    ),
    layer(
      'stations-is-a-line-extension',
      'stations',
      ['review', 'events', 'upload', 'deploy', 'learning', 'cli'],
      'Stations sit beside the other extensions: they get inspections from the bus and the store, and are found by others through the trigger registry (src/line/triggers.ts).',
    ),
    {
      name: 'only-the-cli-imports-the-root',
      severity: 'error',
      comment: 'Modules get what they need through their deps, never from the composition root or the CLI.',
      from: { path: '^src/', pathNot: ['^src/cli/', '^src/app\\.ts$'] },
      to: { path: ['^src/app\\.ts$', folder('cli')] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^src/review/ui/' },
  },
};
