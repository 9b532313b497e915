// The local API's attribution route: Proof of Attribution for an adapter this peer trained.
import { isAbsolute } from 'node:path'
import { z } from 'zod'
import { UsageError } from '../errors.ts'
import type { Route } from './server.ts'
import type { AttributionService } from '../attribution/attribution-service.ts'

const AttributeSchema = z.strictObject({
  adapter: z.string().min(1).max(200),
  datanet: z.string().min(1).max(300).optional(),
  svg: z.string().min(1).max(4096).optional()
})

const VerifySchema = z.strictObject({
  adapter: z.string().min(1).max(200),
  datanet: z.string().min(1).max(300).optional(),
  claimed: z.object({
    adapter: z.string().min(1).max(200),
    method: z.string().max(64).optional(),
    verification: z.object({
      sample: z.array(z.object({ example: z.number().int().nonnegative(), tracin: z.number() })).min(1).max(1000),
      tolerance: z.object({ relative: z.number().positive().max(1).optional() }).optional()
    })
  })
})

export function attributionRoutes (service: AttributionService): Route[] {
  return [{
    method: 'POST',
    path: '/attribute/verify',
    handle: async ({ body, progress, signal }) => {
      const r = VerifySchema.safeParse(body)
      if (!r.success) throw new UsageError(`${r.error.issues[0].path.join('.') || 'body'}: ${r.error.issues[0].message}`)
      return await service.verify(r.data, progress, signal)
    }
  }, {
    method: 'POST',
    path: '/attribute',
    handle: async ({ body, progress, signal }) => {
      const r = AttributeSchema.safeParse(body)
      if (!r.success) throw new UsageError(`${r.error.issues[0].path.join('.') || 'body'}: ${r.error.issues[0].message}`)
      if (r.data.svg !== undefined && !isAbsolute(r.data.svg)) throw new UsageError('svg must be an absolute path')
      return await service.attribute(r.data, progress, signal)
    }
  }]
}
