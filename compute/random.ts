// A small seeded generator (xoshiro128**, seeded through splitmix32) whose whole state
// is four integers, so a training run can save it in a checkpoint and resume the exact
// same shuffles and initialisations after a kill.

export type RngState = [number, number, number, number]

export class Rng {
  private s: Uint32Array

  constructor (seed: number | RngState) {
    if (Array.isArray(seed)) {
      this.s = Uint32Array.from(seed)
    } else {
      let x = seed >>> 0
      const next = () => {
        x = (x + 0x9e3779b9) >>> 0
        let z = x
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
        return (z ^ (z >>> 16)) >>> 0
      }
      this.s = Uint32Array.of(next(), next(), next(), next())
    }
    if (this.s.every(v => v === 0)) this.s[0] = 1
  }

  get state (): RngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]]
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32 (): number {
    const s = this.s
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0
    const t = (s[1] << 9) >>> 0
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 11)
    return result
  }

  /** Uniform in [0, 1). */
  uniform (): number {
    return this.nextUint32() / 4294967296
  }

  /** Uniform integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.uniform() * n)
  }

  /** Standard normal (Box-Muller). */
  normal (): number {
    const u = 1 - this.uniform()
    const v = this.uniform()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }

  /** Fisher-Yates in place. */
  shuffle<T> (items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const tmp = items[i]
      items[i] = items[j]
      items[j] = tmp
    }
    return items
  }
}

function rotl (x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

// murmur3's 32-bit finaliser: one copy, beside the MinHash that uses it too.
export { fmix32 } from '../storage/dedupe/minhash.ts'
