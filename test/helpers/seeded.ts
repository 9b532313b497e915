// Seeded random streams for property tests: the same seed gives the same inputs on every
// run, so a failing case can be replayed.

/** Marsaglia's xorshift32: uint32 values. */
export function xorshift32 (seed: number): () => number {
  let x = (seed >>> 0) || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
}

/** The same stream as uniform doubles in [0, 1). */
export function xorshift (seed: number): () => number {
  const next = xorshift32(seed)
  return () => next() / 4294967296
}
