// The local API's model routes: add a base model file, train an adapter on a datanet
// (ModelFactory), run inference on an adapter (OpenLoRA), list what the peer holds.
import { readFile, stat } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { z } from 'zod'
import { MAX_MODEL_BYTES } from '../../compute/models/artifacts.ts'
import { DeviceChoiceError, UsageError } from '../errors.ts'
import type { Route } from './server.ts'
import type { LoraServer } from '../models/lora-server.ts'
import type { ModelFactory } from '../models/model-factory.ts'
import type { ModelRegistry } from '../models/model-registry.ts'
import { DEVICES, DeviceUnavailableError, providerBundled } from '../../compute/onnx/devices.ts'

const int = (min: number, max: number) => z.number().int().min(min).max(max).optional()
const TrainSchema = z.strictObject({
  datanet: z.string().min(1).max(300),
  base: z.string().min(1).max(200),
  rank: int(1, 256),
  alpha: z.number().positive().max(1e4).optional(),
  targets: z.array(z.string().min(1).max(200)).min(1).max(1000).optional(),
  steps: int(1, 1_000_000),
  batch: int(1, 4096),
  lr: z.number().positive().max(1).optional(),
  seq: int(2, 65_536),
  seed: int(0, 2 ** 31 - 1),
  label: z.string().min(1).max(64).optional(),
  heldOut: z.number().gt(0).max(0.5).optional(),
  device: z.enum(DEVICES).optional()
})
const InferSchema = z.strictObject({
  adapter: z.string().min(1).max(200).optional(),
  base: z.string().min(1).max(200).optional(),
  prompt: z.string().min(1).max(16_384),
  maxTokens: int(1, 512),
  temperature: z.number().min(0).max(10).optional(),
  seed: int(0, 2 ** 31 - 1),
  explain: z.boolean().optional()
})

function parse<S extends z.ZodType> (schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body)
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new UsageError(`${issue.path.join('.') || 'body'}: ${issue.message}`, { issues: r.error.issues.slice(0, 5) })
  }
  return r.data
}

export function modelRoutes (registry: ModelRegistry, factory: ModelFactory, server: LoraServer): Route[] {
  return [
    { method: 'GET', path: '/models', handle: () => ({ models: registry.listModels(), adapters: registry.listAdapters() }) },
    { method: 'GET', path: '/serve', handle: () => server.stats() },
    {
      method: 'POST', path: '/models', handle: async ({ body }) => {
        const b = parse(z.strictObject({ path: z.string().min(1).max(4096), name: z.string().min(1).max(200).optional() }), body)
        if (!isAbsolute(b.path)) throw new UsageError('path must be absolute')
        const size = (await stat(b.path).catch(() => { throw new UsageError(`no file at ${b.path}`) })).size
        if (size > MAX_MODEL_BYTES) throw new UsageError(`model file is over ${MAX_MODEL_BYTES} bytes`, { size })
        return await registry.addModel(new Uint8Array(await readFile(b.path)), b.name)
      }
    },
    {
      method: 'POST',
      path: '/train',
      handle: async ({ body, progress, signal }) => {
        const req = parse(TrainSchema, body)
        // Refused before any data moves; a provider that is there but fails to start says so when its session opens.
        if (req.device !== undefined && !providerBundled(req.device)) throw new DeviceChoiceError(new DeviceUnavailableError(req.device, 'its onnxruntime execution provider is not installed').message, { device: req.device })
        return await factory.train(req, progress, signal)
      }
    },
    { method: 'POST', path: '/infer', handle: async ({ body }) => await server.infer(parse(InferSchema, body)) },
    { method: 'POST', path: '/serve/load', handle: async ({ body }) => await server.preload(parse(z.strictObject({ adapter: z.string().min(1).max(200) }), body).adapter) }
  ]
}
