// Where a process's resident memory is (bench/line.ts --soak, test/line/heap.test.ts): V8's own
// statistics beside /proc/self/smaps summed by kind of mapping. Linux only.
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

const MB = 2 ** 20;
const round = (x: number) => Number((x / MB).toFixed(1));
/** V8's pages (regular heap pages) are 256 KiB mappings of their own, aligned to their size. */
const V8_PAGE = 256 * 1024;
/** glibc's malloc arenas of threads other than the main one: heaps aligned to 64 MiB (HEAP_MAX_SIZE). */
const ARENA_ALIGN = 64 * MB;

export interface MemoryBreakdown {
  /** V8: committed heap pages as it counts them, and what it allocated with malloc. */
  v8PhysicalMb: number;
  v8MallocedMb: number;
  /** Resident bytes per kind of mapping. */
  smapsMb: { v8Pages: number; mallocHeap: number; mallocArenas: number; otherAnon: number; files: number };
  /** The largest resident anonymous mappings outside V8's pages and malloc's heaps. */
  otherAnonTop: { sizeMb: number; rssMb: number }[];
}

/**
 * The largest V8 heap (used and reserved) since the last call, sampled every `everyMs`: the
 * once-a-minute readings miss the peaks between them, and V8 keeps pages it reserved at a peak.
 */
export function heapPeaks(everyMs = 200): { take(): { heapPeakMb: number; heapTotalPeakMb: number }; stop(): void } {
  let used = 0;
  let total = 0;
  const sample = () => {
    const h = v8.getHeapStatistics();
    used = Math.max(used, h.used_heap_size);
    total = Math.max(total, h.total_heap_size);
  };
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    take() {
      sample();
      const peaks = { heapPeakMb: round(used), heapTotalPeakMb: round(total) };
      used = 0;
      total = 0;
      return peaks;
    },
    stop: () => clearInterval(timer),
  };
}

export function memoryBreakdown(): MemoryBreakdown | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return undefined;
  }
  const sums = { v8Pages: 0, mallocHeap: 0, mallocArenas: 0, otherAnon: 0, files: 0 };
  const other: { size: number; rss: number }[] = [];
  let kind: keyof typeof sums | undefined;
  let size = 0;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const start = parseInt(head[1]!, 16);
      size = parseInt(head[2]!, 16) - start;
      const name = head[3]!;
      kind = name === '[heap]' ? 'mallocHeap'
        : name.startsWith('[') ? undefined
        : name !== '' ? 'files'
        : size === V8_PAGE && start % V8_PAGE === 0 ? 'v8Pages'
        : start % ARENA_ALIGN === 0 && size <= ARENA_ALIGN ? 'mallocArenas'
        : 'otherAnon';
      continue;
    }
    if (kind && line.startsWith('Rss:')) {
      const rss = Number(line.split(/\s+/)[1]) * 1024;
      sums[kind] += rss;
      if (kind === 'otherAnon') other.push({ size, rss });
    }
  }
  const heap = v8.getHeapStatistics();
  return {
    v8PhysicalMb: round(heap.total_physical_size),
    v8MallocedMb: round(heap.malloced_memory),
    smapsMb: { v8Pages: round(sums.v8Pages), mallocHeap: round(sums.mallocHeap), mallocArenas: round(sums.mallocArenas), otherAnon: round(sums.otherAnon), files: round(sums.files) },
    otherAnonTop: other.sort((a, b) => b.rss - a.rss).slice(0, 3).map((m) => ({ sizeMb: round(m.size), rssMb: round(m.rss) })),
  };
}
