// Shared test fixtures: the shipped model files, and a realistic capacity advert body.
import { fileURLToPath } from 'node:url'
import type { CapacityAdvert } from '../../protocols/messages/capacity-advert.ts'
import { advertBody } from '../../bench/attacks/plain-peers.ts'

/** The shipped SpamAssassin classifier base (`openledger model pretrain`'s output, committed). */
export const SPAM_BASE = fileURLToPath(new URL('../../peer/models/built/spam-base.safetensors', import.meta.url))
/**
 * Mails a market devnet imports: enough for 100-step jobs of batch 32 (whose checks do not
 * depend on the data), half of what they once imported, so each devnet's import, shard
 * sync and every party's data preparation cost half (npm test's budget). The attribution
 * devnet keeps 600: it pays contributors by measured weight.
 */
export const MARKET_MAILS = 300
/** The shipped State of the Union language model (BPE 4096, 4 layers, context 128). */
export const SOTU_LM = fileURLToPath(new URL('../../peer/models/built/sotu-lm.safetensors', import.meta.url))

/** A capacity advert as a 2-core CPU peer would send it (the attack bench's, bench/attacks/plain-peers.ts). */
export function advertFixture (overrides: Partial<CapacityAdvert> = {}): CapacityAdvert {
  return { ...advertBody(Date.now()), ...overrides }
}
