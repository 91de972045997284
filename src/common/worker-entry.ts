// Where a worker's (or child process's) code is: beside the calling module, as TypeScript run
// through tsx when the caller itself runs from source (tests, benches), else the built .js.

/** `name` without extension, next to the module whose `import.meta.url` is `from`. */
export function workerEntry(from: string, name: string): { url: URL; execArgv: string[] } {
  const fromSource = from.endsWith('.ts');
  return { url: new URL(`./${name}${fromSource ? '.ts' : '.js'}`, from), execArgv: fromSource ? ['--import', 'tsx'] : [] };
}
