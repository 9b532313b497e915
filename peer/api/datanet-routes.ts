// The local API's datanet routes: parse and check the request, call the service.
import { UsageError } from '../errors.ts'
import type { Route } from './server.ts'
import type { DatanetService } from '../datanets/datanet-service.ts'

export function datanetRoutes (service: DatanetService): Route[] {
  const str = (v: unknown, name: string, required = true): string | undefined => {
    if (v == null && !required) return undefined
    if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw new UsageError(`${name} must be a non-empty string`)
    return v
  }
  return [
    { method: 'GET', path: '/datanets', handle: () => service.list() },
    { method: 'GET', path: /^\/datanets\/([^/]+)$/, handle: async ({ params }) => await service.show(params[0]) },
    { method: 'GET', path: /^\/datanets\/([^/]+)\/contributors\/([^/]+)$/, handle: async ({ params }) => await service.contributor(params[0], params[1]) },
    {
      method: 'POST', path: '/datanets', handle: async ({ body }) => {
        const b = body as Record<string, unknown>
        const description = b.description ?? ''
        if (typeof description !== 'string') throw new UsageError('description must be a string')
        return await service.create({ name: str(b.name, 'name')!, description, license: str(b.license, 'license')! })
      }
    },
    {
      method: 'POST', path: /^\/datanets\/([^/]+)\/contribute$/, handle: async ({ params, body, progress, signal }) => {
        const b = body as Record<string, unknown>
        if (!Array.isArray(b.paths) || b.paths.length === 0 || b.paths.length > 1000) throw new UsageError('paths must be a list of 1 to 1000 paths')
        return await service.contribute(params[0], b.paths.map((p, i) => str(p, `paths[${i}]`)!), str(b.license, 'license', false), progress, signal)
      }
    },
    {
      method: 'POST', path: '/datanets/import', handle: async ({ body, progress, signal }) => {
        const b = body as Record<string, unknown>
        const limit = b.limit == null ? undefined : Number(b.limit)
        if (limit != null && (!Number.isInteger(limit) || limit < 1)) throw new UsageError('limit must be a positive integer')
        return await service.importCorpus(str(b.corpus, 'corpus')!, limit, progress, signal)
      }
    },
    {
      method: 'POST', path: '/datanets/follow', handle: async ({ body, signal }) => {
        const b = body as Record<string, unknown>
        return await service.follow(str(b.target, 'target')!, signal)
      }
    },
    {
      method: 'POST', path: '/datanets/unfollow', handle: async ({ body }) => {
        const b = body as Record<string, unknown>
        return await service.unfollow(str(b.target, 'target')!)
      }
    },
    {
      method: 'POST', path: '/datanets/get', handle: async ({ body, progress, signal }) => {
        const b = body as Record<string, unknown>
        return await service.get(str(b.target, 'target')!, str(b.out, 'out')!, progress, signal)
      }
    }
  ]
}
