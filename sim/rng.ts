// Seeded random streams: the simulator's only source of chance, so the same scenario and
// seed give the same run, bit for bit. sfc32 (small fast counter, 128-bit state) seeded
// through splitmix32; each subsystem takes its own stream (seed, stream number), so adding
// draws in one place does not shift every other decision of the run.

export interface Rng {
  /** Uniform in [0, 1). */
  float (): number
  /** Uniform integer in [0, n). */
  int (n: number): number
  /** True with probability p. */
  chance (p: number): boolean
  /** Uniform in [lo, hi). */
  range (lo: number, hi: number): number
  /** Standard normal (Box-Muller, one value per call). */
  normal (): number
}

function splitmix32 (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

export function rng (seed: number, stream = 0): Rng {
  const init = splitmix32((seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2d))
  let a = init()
  let b = init()
  let c = init()
  let d = init()
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = ((c << 21) | (c >>> 11)) >>> 0
    c = (c + t) >>> 0
    return t
  }
  for (let i = 0; i < 12; i++) next() // mix the state before the first draw
  const float = (): number => next() / 4294967296
  return {
    float,
    int: (n) => Math.floor(float() * n),
    chance: (p) => p > 0 && float() < p,
    range: (lo, hi) => lo + (hi - lo) * float(),
    normal: () => {
      const u = 1 - float()
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * float())
    }
  }
}
