// Where an envelope's time goes: every stage of sealEnvelope and openEnvelope timed on
// its own, over inputs prepared beforehand, with the same alternating timing loop.
// The stages mirror protocols/envelope.ts step by step; their sum is compared with
// the measured full seal + open to show what is left (allocation, GC, glue).
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { bytesToHex, randomBytes } from '../../protocols/bytes.ts'
import { decode, encode } from '../../protocols/codec.ts'
import { envelopeDigest, ENVELOPE_VERSION, maxEnvelopeBytes, NONCE_BYTES, sealEnvelope } from '../../protocols/envelope.ts'
import { CapacityAdvertMessage, capacityAdvertSchema, type CapacityAdvert } from '../../protocols/messages/index.ts'
import type { MessageRegistry } from '../../protocols/registry.ts'
import { ReplayGuard } from '../../protocols/replay-guard.ts'
import { verifyDigest, type Signer } from '../../protocols/signer.ts'
import { fmt } from '../lib/report.ts'
import { round } from '../lib/stats.ts'
import { alternate, type TimedCase } from '../lib/timing.ts'

export interface BreakdownOptions {
  ops: number
  reps: number
  warmupReps: number
  network: string
  signer: Signer
  privateKey: Uint8Array
  registry: MessageRegistry
  base: CapacityAdvert
  measuredUsPerEnvelope: number
  measuredUsBaseline: number
}

interface Stage {
  /** How many times one seal + open does this. */
  times: number
  part: 'seal' | 'open' | 'both' | 'reference'
  c: TimedCase
}

export async function breakdown (o: BreakdownOptions): Promise<{ rows: string[][], detail: Record<string, unknown>, notes: string[] }> {
  const { network, signer, privateKey, registry, ops } = o
  const type = CapacityAdvertMessage.type
  const pub = signer.publicKey
  const pubUncompressed = secp256k1.getPublicKey(privateKey, false)
  const max = maxEnvelopeBytes(registry)
  const maxBody = CapacityAdvertMessage.maxBodyBytes

  // Inputs: ops distinct envelopes, and every intermediate value of sealing/opening them.
  const ts = Date.now()
  const bodies = Array.from({ length: ops }, (_, i) => ({ ...o.base, seq: o.base.seq + i }))
  const nonces = bodies.map(() => randomBytes(NONCE_BYTES))
  const bodyBytes = bodies.map(b => encode(b))
  const digests = bodyBytes.map((bb, i) => envelopeDigest(network, ENVELOPE_VERSION, type, pub, nonces[i], ts, bb))
  const sigs = digests.map(d => signer.sign(d))
  const envBytes = bodies.map((body, i) => sealEnvelope({ network, type, body, signer, registry, now: ts, nonce: nonces[i] }))
  const decodedBodies = bodyBytes.map(bb => decode(bb, maxBody))
  const keys = nonces.map(n => bytesToHex(pub) + bytesToHex(n))

  let sink = 0
  const loop = (fn: (i: number) => unknown): TimedCase => ({
    run: (n: number) => { for (let i = 0; i < n; i++) if (fn(i) != null) sink++ }
  })
  let guard = new ReplayGuard()

  const stages: Record<string, Stage> = {
    'nonce: randomBytes(16)': { times: 1, part: 'seal', c: loop(() => randomBytes(NONCE_BYTES)) },
    'zod safeParse (seal: body object)': { times: 1, part: 'seal', c: loop(i => capacityAdvertSchema.safeParse(bodies[i])) },
    'msgpack encode body': { times: 1, part: 'seal', c: loop(i => encode(bodies[i])) },
    'keccak256 digest (preimage + hash)': { times: 2, part: 'both', c: loop(i => envelopeDigest(network, ENVELOPE_VERSION, type, pub, nonces[i], ts, bodyBytes[i])) },
    'secp256k1 sign': { times: 1, part: 'seal', c: loop(i => signer.sign(digests[i])) },
    'msgpack encode envelope': { times: 1, part: 'seal', c: loop(i => encode([ENVELOPE_VERSION, type, pub, nonces[i], ts, bodyBytes[i], sigs[i]])) },
    'msgpack decode envelope': { times: 1, part: 'open', c: loop(i => decode(envBytes[i], max)) },
    'secp256k1 verify (33-byte key)': { times: 1, part: 'open', c: loop(i => verifyDigest(sigs[i], digests[i], pub) ? 1 : null) },
    'bytesToHex (replay key, id)': { times: 1, part: 'open', c: loop(i => bytesToHex(pub) + bytesToHex(nonces[i]) + bytesToHex(digests[i])) },
    'replay guard check + record': {
      times: 1,
      part: 'open',
      c: { prepare: () => { guard = new ReplayGuard() }, run: (n) => { const now = Date.now(); for (let i = 0; i < n; i++) { guard.checkTime(ts, now); guard.checkNonce(keys[i]); guard.record(keys[i], ts, now) } } }
    },
    'msgpack decode body': { times: 1, part: 'open', c: loop(i => decode(bodyBytes[i], maxBody)) },
    'zod safeParse (open: decoded body)': { times: 1, part: 'open', c: loop(i => capacityAdvertSchema.safeParse(decodedBodies[i])) },
    // References, not part of the sum:
    'ref: verify with 65-byte key (no decompression)': { times: 0, part: 'reference', c: loop(i => secp256k1.verify(sigs[i], digests[i], pubUncompressed, { prehash: false }) ? 1 : null) },
    'ref: Point.fromBytes(33-byte key) (decompression)': { times: 0, part: 'reference', c: loop(() => secp256k1.Point.fromBytes(pub)) }
  }

  process.stderr.write(`envelope breakdown: ${Object.keys(stages).length} stages\n`)
  const cases = Object.fromEntries(Object.entries(stages).map(([k, s]) => [k, s.c])) as Record<string, TimedCase>
  const t = await alternate(cases, { ops, reps: o.reps, warmupReps: o.warmupReps, warmupMinMs: 1_000 })
  if (sink < 0) throw new Error('unreachable')

  const rows: string[][] = [['stage', 'us/op', 'x', 'us/envelope', 'share']]
  const detail: Record<string, unknown> = {}
  let sum = 0
  const shares: Array<{ name: string, us: number }> = []
  for (const [k, s] of Object.entries(stages)) {
    const us = t[k].medianUsPerOp
    const perEnv = us * s.times
    if (s.part !== 'reference') { sum += perEnv; shares.push({ name: k, us: perEnv }) }
    detail[k] = { usPerOp: round(us), timesPerEnvelope: s.times, usPerEnvelope: round(perEnv) }
    rows.push([k, fmt(us), s.part === 'reference' ? '-' : String(s.times), s.part === 'reference' ? '-' : fmt(perEnv),
      s.part === 'reference' ? '-' : `${(100 * perEnv / o.measuredUsPerEnvelope).toFixed(1)}%`])
  }
  const rest = o.measuredUsPerEnvelope - sum
  rows.push(['sum of stages', '', '', fmt(sum), `${(100 * sum / o.measuredUsPerEnvelope).toFixed(1)}%`])
  rows.push(['measured full seal + open', '', '', fmt(o.measuredUsPerEnvelope), '100%'])
  rows.push(['  not in any stage (alloc, GC, glue)', '', '', fmt(rest), `${(100 * rest / o.measuredUsPerEnvelope).toFixed(1)}%`])
  rows.push(['baseline sign + verify (measured)', '', '', fmt(o.measuredUsBaseline), `${(100 * o.measuredUsBaseline / o.measuredUsPerEnvelope).toFixed(1)}%`])
  detail.sumOfStagesUs = round(sum)
  detail.measuredUsPerEnvelope = round(o.measuredUsPerEnvelope)

  const crypto = ['secp256k1 sign', 'secp256k1 verify (33-byte key)']
  const overhead = shares.filter(s => !crypto.includes(s.name)).sort((a, b) => b.us - a.us)
  const decompressUs = t['ref: Point.fromBytes(33-byte key) (decompression)'].medianUsPerOp
  const notes = [
    `non-crypto overhead per envelope, largest first: ${overhead.slice(0, 4).map(s => `${s.name} ${fmt(s.us)} us`).join('; ')}`,
    `public-key decompression costs ${fmt(decompressUs)} us per verify; the baseline pays it too (same 33-byte key), so it does not move the ratio`
  ]
  return { rows, detail, notes }
}
