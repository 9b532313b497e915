// The local API's task-market routes: submit a training job, an inference batch or an
// attribution (escrow, announce, bids, assignment), and follow jobs this peer took part in.
import { z } from 'zod'
import { UsageError } from '../errors.ts'
import type { Route } from './server.ts'
import { MAX_PROMPT_CHARS, MAX_PROMPTS } from '../../compute/jobs/infer-files.ts'
import { MAX_NEW_TOKENS } from '../models/lora-server.ts'
import type { MarketService } from '../market/market-service.ts'
import { DEVICE_NAMES } from '../../protocols/messages/index.ts'

const SubmitSchema = z.strictObject({
  kind: z.enum(['train', 'infer', 'attribute']).optional(),
  datanet: z.string().min(1).max(300).optional(),
  adapter: z.string().min(1).max(200).optional(),
  prompts: z.array(z.string().min(1).max(MAX_PROMPT_CHARS)).min(1).max(MAX_PROMPTS).optional(),
  maxTokens: z.number().int().min(1).max(MAX_NEW_TOKENS).optional(),
  base: z.string().min(1).max(200).optional(),
  trainJob: z.string().regex(/^0x[0-9a-f]{64}$/, 'a job id: 0x + 32 bytes of lowercase hex').optional(),
  amount: z.string().regex(/^[0-9]{1,30}(\.[0-9]{1,18})?$/, 'an amount of OPEN like 100 or 2.5'),
  steps: z.number().int().min(1).max(1_000_000).optional(),
  batch: z.number().int().min(1).max(4096).optional(),
  lr: z.number().positive().max(1).optional(),
  label: z.string().min(1).max(200).optional(),
  verifiers: z.number().int().min(1).max(16).optional(),
  bidWindowMs: z.number().int().min(500).max(600_000).optional(),
  /** The worker's device: a kind, and/or a least measured MatMul rate (GFLOP/s). */
  device: z.enum(DEVICE_NAMES).optional(),
  minGflops: z.number().positive().max(1e9).optional()
})

export function marketRoutes (market: MarketService): Route[] {
  return [{
    method: 'POST',
    path: '/jobs',
    handle: async ({ body }) => {
      const r = SubmitSchema.safeParse(body)
      if (!r.success) throw new UsageError(`${r.error.issues[0].path.join('.') || 'body'}: ${r.error.issues[0].message}`)
      const { amount, verifiers, bidWindowMs, kind, datanet, base, adapter, prompts, maxTokens, trainJob, device, minGflops, ...training } = r.data
      const needs = { ...(device !== undefined ? { device } : {}), ...(minGflops !== undefined ? { minGflops } : {}) }
      const trainingOptions = Object.entries(training).filter(([, v]) => v !== undefined).map(([k]) => k)
      if (kind === 'attribute') {
        if (adapter === undefined && trainJob === undefined) throw new UsageError('an attribution names the adapter or the training job that produced it')
        const other = [...(datanet !== undefined ? ['datanet'] : []), ...(base !== undefined ? ['base'] : []), ...(prompts !== undefined ? ['prompts'] : []), ...(maxTokens !== undefined ? ['maxTokens'] : []), ...trainingOptions]
        if (other.length > 0) throw new UsageError(`an attribution takes its datanet, base and examples from the training job (${other.join(', ')})`)
        return await market.submit({ attribute: { adapter, trainJob }, amount, verifiers, bidWindowMs, needs })
      }
      if (trainJob !== undefined) throw new UsageError('trainJob is for attributions (kind attribute)')
      if (base === undefined) throw new UsageError('a training job or an inference batch needs a base model')
      if (kind === 'infer') {
        if (prompts === undefined) throw new UsageError('an inference batch needs prompts')
        if (datanet !== undefined || trainingOptions.length > 0) throw new UsageError(`an inference batch takes no datanet or training options (${['datanet', ...trainingOptions].join(', ')})`)
        return await market.submit({ infer: { base, adapter, prompts, maxNewTokens: maxTokens ?? 48 }, amount, verifiers, bidWindowMs, needs })
      }
      if (datanet === undefined) throw new UsageError('a training job needs a datanet')
      if (adapter !== undefined || prompts !== undefined || maxTokens !== undefined) throw new UsageError('adapter, prompts and maxTokens are for inference batches (kind infer)')
      return await market.submit({ train: { datanet, base, ...training }, amount, verifiers, bidWindowMs, needs })
    }
  }, {
    method: 'GET',
    path: '/jobs',
    handle: async () => await market.list()
  }, {
    method: 'GET',
    path: /^\/jobs\/(0x[0-9a-f]{64})$/,
    handle: async ({ params }) => await market.status(params[0])
  }]
}
