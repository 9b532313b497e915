// A message type is a name, a hard size cap for its body and a schema. The registry
// is the only place a receiver learns what a type means: unknown types are rejected.
import type { z } from 'zod'
import { UnknownMessageTypeError } from './errors.ts'

export interface MessageSpec<T = unknown> {
  /** Versioned name, e.g. 'capacity-advert/1'. */
  readonly type: string
  /** Hard cap on the msgpack-encoded body, in bytes. */
  readonly maxBodyBytes: number
  readonly schema: z.ZodType<T>
}

export function defineMessage<T> (spec: MessageSpec<T>): MessageSpec<T> {
  if (!/^[a-z][a-z0-9-]*\/\d+$/.test(spec.type)) throw new TypeError(`bad message type name ${spec.type}`)
  return spec
}

export class MessageRegistry {
  private readonly specs = new Map<string, MessageSpec>()

  constructor (specs: Iterable<MessageSpec<any>> = []) {
    for (const spec of specs) this.add(spec)
  }

  add (spec: MessageSpec<any>): this {
    if (this.specs.has(spec.type)) throw new TypeError(`message type ${spec.type} registered twice`)
    this.specs.set(spec.type, spec)
    return this
  }

  get (type: string): MessageSpec {
    const spec = this.specs.get(type)
    if (spec == null) throw new UnknownMessageTypeError('unknown message type', { type })
    return spec
  }

  /** Largest body any registered type allows: the envelope-level cap derives from it. */
  get maxBodyBytes (): number {
    let max = 0
    for (const spec of this.specs.values()) max = Math.max(max, spec.maxBodyBytes)
    return max
  }
}
