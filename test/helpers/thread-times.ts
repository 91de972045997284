import fs from 'node:fs';

/** The calling thread's time on a core and waiting for one (Linux's /proc/thread-self/schedstat), in ms. */
export function threadTimes(): { cpu: number; queued: number } {
  const [cpu, queued] = fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number);
  return { cpu: cpu! / 1e6, queued: queued! / 1e6 };
}
