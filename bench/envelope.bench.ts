// envelope: full envelopes sealed AND opened per second, against bare secp256k1
// sign + verify of a 32-byte hash with the same key, the same count, in the same run.
//
// Project op:  sealEnvelope(capacity advert, real signer, registry)  -- as PeerNode seals
//              then openEnvelope(bytes, registry, ReplayGuard, accept) -- as Inbound opens
// Baseline op: secp256k1.sign(hash, key, { prehash: false })
//              then secp256k1.verify(sig, hash, compressedPublicKey, { prehash: false })
// Repetitions alternate project, baseline, project, baseline ... after a warm-up.
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { randomBytes } from '../protocols/bytes.ts'
import { encode } from '../protocols/codec.ts'
import { openEnvelope, sealEnvelope } from '../protocols/envelope.ts'
import { identityOf } from '../protocols/identity.ts'
import { CapacityAdvertMessage, defaultRegistry, type CapacityAdvert } from '../protocols/messages/index.ts'
import { ReplayGuard } from '../protocols/replay-guard.ts'
import { signerFromPrivateKey } from '../protocols/signer.ts'
import { capacityAdvertFixture } from './envelope/advert-fixture.ts'
import { breakdown } from './envelope/breakdown.ts'
import { numberFlag, parseFlags } from './lib/args.ts'
import type { BenchResult } from './lib/bench.ts'
import { alternate } from './lib/timing.ts'
import { fmt } from './lib/report.ts'
import { max, median, min, round } from './lib/stats.ts'

export const name = 'envelope'
export const description = 'sign + verify of full envelopes per second vs bare secp256k1 sign + verify'
export const flags = [
  '--ops N         envelopes per repetition (default 300)',
  '--reps N        timed repetitions of each case, >= 5 (default 9)',
  '--warmup N      untimed repetitions of each case first (default 2; at least 2 s in all)',
  '--breakdown     also time each stage of seal/open on its own'
]

const NETWORK = 'devnet'
const ACCEPTANCE = 0.8
/** Warm-up lasts at least this long whatever --ops and --warmup say (JIT, noble's tables). */
const WARMUP_MIN_MS = 2_000

export async function run (args: string[]): Promise<BenchResult> {
  const f = parseFlags(args, { ops: 'string', reps: 'string', warmup: 'string', breakdown: 'boolean' })
  const ops = numberFlag(f, 'ops', 300, { min: 1 })
  const reps = numberFlag(f, 'reps', 9, { min: 5 })
  const warmupReps = numberFlag(f, 'warmup', 2, { min: 1 })

  const privateKey = secp256k1.utils.randomSecretKey()
  const signer = signerFromPrivateKey(privateKey)
  const publicKey = signer.publicKey
  const registry = defaultRegistry()
  const type = CapacityAdvertMessage.type
  const accept = [type]
  const base = capacityAdvertFixture(identityOf(publicKey).peerId)

  // Project: one fresh guard per repetition (reps stay alike); nonces are random
  // per seal, so nothing is ever rejected as a replay.
  let guard = new ReplayGuard()
  let opened = 0
  const project = {
    prepare: () => { guard = new ReplayGuard(); opened = 0 },
    run: (n: number) => {
      for (let i = 0; i < n; i++) {
        const body: CapacityAdvert = { ...base, seq: base.seq + i }
        const bytes = sealEnvelope({ network: NETWORK, type, body, signer, registry })
        const env = openEnvelope<CapacityAdvert>(bytes, { network: NETWORK, registry, replayGuard: guard, accept })
        if (env.body.seq === body.seq) opened++
      }
      if (opened !== n) throw new Error(`opened ${opened} of ${n} envelopes`)
    }
  }

  // Baseline: distinct 32-byte hashes, made before the timed section.
  let hashes: Uint8Array[] = []
  let verified = 0
  const baseline = {
    prepare: (n: number) => { hashes = Array.from({ length: n }, () => randomBytes(32)); verified = 0 },
    run: (n: number) => {
      for (let i = 0; i < n; i++) {
        const sig = secp256k1.sign(hashes[i], privateKey, { prehash: false })
        if (secp256k1.verify(sig, hashes[i], publicKey, { prehash: false })) verified++
      }
      if (verified !== n) throw new Error(`verified ${verified} of ${n} signatures`)
    }
  }

  process.stderr.write(`envelope: ${warmupReps} warm-up + ${reps} timed reps of ${ops} ops, project and baseline alternating\n`)
  const t = await alternate({ project, baseline }, {
    ops,
    reps,
    warmupReps,
    warmupMinMs: WARMUP_MIN_MS,
    onRep: (c, r, rate) => process.stderr.write(`  rep ${r + 1} ${c.padEnd(8)} ${fmt(rate)} ops/s\n`)
  })
  const ratio = t.project.medianOpsPerSec / t.baseline.medianOpsPerSec
  // Each project rep against the baseline rep right after it: a second, pairwise view.
  const pairRatios = t.project.opsPerSec.map((p, i) => p / t.baseline.opsPerSec[i])

  const result: BenchResult = {
    figures: { envelopesPerSec: round(t.project.medianOpsPerSec), usPerEnvelope: round(t.project.medianUsPerOp) },
    baseline: { envelopesPerSec: round(t.baseline.medianOpsPerSec), usPerEnvelope: round(t.baseline.medianUsPerOp) },
    ratio: round(ratio),
    reps,
    units: { envelopesPerSec: 'seal+open /s', usPerEnvelope: 'us' },
    params: { ops, reps, warmupReps, warmupMinMs: WARMUP_MIN_MS, network: NETWORK, type, bodyBytes: encode(base).byteLength, envelopeBytes: sealEnvelope({ network: NETWORK, type, body: base, signer }).byteLength },
    detail: {
      acceptance: { threshold: ACCEPTANCE, pass: ratio >= ACCEPTANCE },
      medianOfPairRatios: round(median(pairRatios)),
      pairRatioRange: [round(min(pairRatios)), round(max(pairRatios))],
      perRep: {
        project: t.project.opsPerSec.map(x => round(x)),
        baseline: t.baseline.opsPerSec.map(x => round(x))
      }
    },
    notes: [
      'project op = sealEnvelope (with registry schema check, as PeerNode does) + openEnvelope (registry, ReplayGuard, accept list, as Inbound does)',
      'baseline op = @noble/curves secp256k1 sign + verify of a 32-byte hash, prehash false, 33-byte compressed key (the form envelopes carry)',
      `acceptance: ratio >= ${ACCEPTANCE}: ${ratio >= ACCEPTANCE ? 'PASS' : 'FAIL'}`
    ]
  }

  if (f.breakdown === true) {
    const b = await breakdown({ ops, reps, warmupReps, network: NETWORK, signer, privateKey, registry, base,
      measuredUsPerEnvelope: t.project.medianUsPerOp, measuredUsBaseline: t.baseline.medianUsPerOp })
    result.detail!.breakdown = b.detail
    result.tables = [{ title: 'breakdown (median us per op, each stage timed alone; "x" = times per envelope)', rows: b.rows }]
    result.notes!.push(...b.notes)
  }
  return result
}
