// Gradient sketches: a CountSketch (one seeded bucket and sign per coordinate) maps a
// d-dimensional LoRA gradient to k numbers whose dot products estimate the original's
// without bias (TRAK-style compression, at O(d) per vector). Contributions' summed
// training gradients are stored as sketches, so an answer's gradient can be compared
// with every contribution without keeping the gradients.

import { ShapeMismatchError } from '../errors.ts'
import { fmix32 } from '../random.ts'

export const SKETCH_DIMS = 512

export class CountSketch {
  readonly d: number
  readonly k: number
  private readonly bucket: Int32Array
  private readonly sign: Float32Array

  constructor (d: number, k: number = SKETCH_DIMS, seed = 0x5eed) {
    if (!Number.isInteger(d) || d < 1 || !Number.isInteger(k) || k < 1) throw new RangeError('sketch dimensions must be positive integers')
    this.d = d
    this.k = k
    this.bucket = new Int32Array(d)
    this.sign = new Float32Array(d)
    for (let j = 0; j < d; j++) {
      const h = fmix32(j ^ Math.imul(seed, 0x9e3779b1))
      this.bucket[j] = h % k
      this.sign[j] = (fmix32(h ^ 0x85ebca6b) & 1) === 0 ? 1 : -1
    }
  }

  /** The sketch of one vector (or of rows[offset .. offset + d)). */
  apply (g: ArrayLike<number>, offset = 0, out: Float32Array<ArrayBufferLike> = new Float32Array(this.k)): Float32Array<ArrayBufferLike> {
    if (g.length < offset + this.d) throw new ShapeMismatchError('vector shorter than the sketch expects', { length: g.length, d: this.d })
    for (let j = 0; j < this.d; j++) out[this.bucket[j]] += this.sign[j] * g[offset + j]
    return out
  }
}

/** Cosine similarity of two sketches (0 when either is zero). */
export function cosine (a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0
  let aa = 0
  let bb = 0
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i] }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb)
}
