/** The value below which `fraction` of the sorted numbers fall (nearest rank). */
export function percentile(sorted, fraction) {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[index];
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function verdict(passed) {
  return passed ? 'PASS' : 'MISS';
}

export function pad(text, width) {
  return String(text).padEnd(width);
}

/**
 * How far the median of `values` could move with other rounds like these: the 5th and 95th percentiles of the
 * medians of `resamples` bootstrap resamples. `groupSize` consecutive values came from one process and are drawn
 * together, since rounds of one process are not independent of each other. Seeded, so a run's figures can be
 * reproduced from its rounds.
 */
export function medianInterval(values, { groupSize = 1, resamples = 4000, seed = 1 } = {}) {
  let state = seed >>> 0 || 1;
  const random = () => {
    // xorshift32: enough for resampling, and the same on every machine.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const groups = [];
  for (let start = 0; start < values.length; start += groupSize)
    groups.push(values.slice(start, start + groupSize));
  const medians = [];
  for (let resample = 0; resample < resamples; resample++) {
    medians.push(median(groups.flatMap(() => groups[Math.floor(random() * groups.length)])));
  }
  medians.sort((a, b) => a - b);
  return [percentile(medians, 0.05), percentile(medians, 0.95)];
}
