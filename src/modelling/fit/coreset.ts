// Greedy k-centre coreset selection (PatchCore's): the chosen rows cover the others as evenly as
// the budget allows, so rare good patches are kept and near-duplicates are not. Rows are compared
// in a small random projection (features.ts), which keeps the cost at size · rows · d.

/** Greedy k-centre: start at the row nearest the mean, then repeatedly add the row farthest from the chosen ones. */
export function greedyCentres(rows: Float32Array, n: number, d: number, m: number): number[] {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += rows[i * d + j]! / n;
  let cur = 0;
  let best = Infinity;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (rows[i * d + j]! - mean[j]!) ** 2;
    if (s < best) [best, cur] = [s, i];
  }
  const dmin = new Float64Array(n).fill(Infinity);
  const chosen: number[] = [];
  for (let k = 0; k < m; k++) {
    chosen.push(cur);
    if (k === m - 1) break;
    let far = -1;
    let next = 0;
    const base = cur * d;
    for (let i = 0; i < n; i++) {
      let s = 0;
      const o = i * d;
      for (let j = 0; j < d; j++) {
        const diff = rows[o + j]! - rows[base + j]!;
        s += diff * diff;
      }
      if (s < dmin[i]!) dmin[i] = s;
      if (dmin[i]! > far) [far, next] = [dmin[i]!, i];
    }
    cur = next;
  }
  return chosen;
}

