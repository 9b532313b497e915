// How a peer plays the market: honestly, or as one of the adversaries the network must
// defeat (devnet demonstrations and tests only; ./cheat-modes.ts names them). The market
// never branches on a cheat: it asks its behaviour at the few points where a liar
// would act differently, and the honest behaviour answers what an honest peer does.
import { bytesToHex } from '@noble/hashes/utils.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import type { TrainingReceipt } from '../../../compute/verify/sample.ts'
import type { JobVerdict } from '../../../protocols/messages/index.ts'
import type { TrainRequest } from '../../models/model-factory.ts'
import { isWorkerCheat, type Cheat } from './cheat-modes.ts'
import { cheatingWork, type CheatDeps, type Produced } from './cheats.ts'

export interface MarketBehaviour {
  /** Its name in logs and the devnet view ('honest', or the cheat). */
  readonly name: string
  /** The price it bids as a worker for a job announced at `maxPrice` (a liar saves the work, so it can undercut). */
  bidPrice: (maxPrice: bigint) => bigint
  /** Whether it plants the forced errors its draw asks for (a liar's result is already wrong). */
  plantsForcedErrors: boolean
  /** Training: a forged result in place of the honest run; undefined: it trains honestly. */
  forgeTraining: (deps: CheatDeps, job: string, req: TrainRequest, every: number) => Promise<Produced | undefined>
  /** Inference batches: how many of the base's layers it generates with. */
  inferenceLayers: (layers: number) => number
  /** Attributions: scores made up without computing any gradient. */
  madeUpScores: boolean
  /** Verifying: it signs every result without checking anything. */
  approvesUnchecked: boolean
  /** Verifying a training job whose sampled segments replayed: the segment it falsely claims did not, with a made-up hash; undefined: none. */
  accusation: (job: string, segments: readonly number[], receipt: TrainingReceipt) => NonNullable<JobVerdict['dispute']> | undefined
}

export const HONEST: MarketBehaviour = {
  name: 'honest',
  bidPrice: (maxPrice) => maxPrice,
  plantsForcedErrors: true,
  forgeTraining: async () => undefined,
  inferenceLayers: (layers) => layers,
  madeUpScores: false,
  approvesUnchecked: false,
  accusation: () => undefined
}

/** The behaviour of a devnet peer started with `cheat` (./cheats.ts has what each worker cheat does). */
export function behaviourOf (cheat: Cheat | undefined): MarketBehaviour {
  if (cheat === undefined) return HONEST
  const worker = isWorkerCheat(cheat)
  return {
    name: cheat,
    // A cheating worker saves the cost of the work: it bids 80% of the maximum.
    bidPrice: (maxPrice) => worker ? maxPrice * 8n / 10n : maxPrice,
    plantsForcedErrors: !worker,
    forgeTraining: async (deps, job, req, every) => worker ? await cheatingWork(cheat, deps, job, req, every) : undefined,
    // The smaller-model adversary: the same base with half its layers, about half the compute.
    inferenceLayers: (layers) => cheat === 'small' ? Math.max(1, Math.floor(layers / 2)) : layers,
    madeUpScores: cheat === 'scores',
    approvesUnchecked: cheat === 'approve',
    // The false accuser: the first sampled segment, which replayed, is claimed not to.
    accusation: (job, segments, receipt) => cheat === 'accuse' && segments.length > 0
      ? { segment: segments[0], step: receipt.chain[segments[0]].step, hash: fabricatedHash(job, segments[0]) }
      : undefined
  }
}

/** A hash no honest replay produces: what the `accuse` adversary claims a segment ended in. */
export function fabricatedHash (job: string, segment: number): string {
  return bytesToHex(keccak_256(new TextEncoder().encode(`openledger/accuse/1 ${job} ${segment}`)))
}
