// Shared test fixtures: the shipped model files, and a realistic capacity advert body.
import { fileURLToPath } from 'node:url'
import type { CapacityAdvert } from '../../protocols/messages/capacity-advert.ts'

/** The shipped SpamAssassin classifier base (`openledger model pretrain`'s output, committed). */
export const SPAM_BASE = fileURLToPath(new URL('../../peer/models/built/spam-base.safetensors', import.meta.url))
/** The shipped State of the Union language model (BPE 4096, 4 layers, context 128). */
export const SOTU_LM = fileURLToPath(new URL('../../peer/models/built/sotu-lm.safetensors', import.meta.url))

/** A capacity advert as a 2-core CPU peer would send it. */
export function advertFixture (overrides: Partial<CapacityAdvert> = {}): CapacityAdvert {
  return {
    seq: Date.now(),
    ttlMs: 30_000,
    agent: 'openledger/0.1.0',
    addrs: ['/ip4/127.0.0.1/tcp/40001/p2p/16Uiu2HAmHydXHRPoYhhkhDiV1ZFQJgviKUPHttFraCuf9rszvQ4q'],
    slots: { total: 2, free: 2 },
    cpu: { cores: 2, model: 'AMD EPYC', flags: { avx2: true, avx512f: true, fma: true, neon: false } },
    memory: { totalBytes: 25_276_026_880, freeBytes: 22_902_381_568 },
    disk: { totalBytes: 270_553_174_016, freeBytes: 84_949_237_760 },
    ort: { version: '1.30.0', providers: ['cpu'], matmulGflops: 151.2, matmulSize: 512, threads: 2 },
    gpus: [],
    measuredAt: Date.now(),
    ...overrides
  }
}
