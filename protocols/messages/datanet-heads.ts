// datanet-heads/1: "this is where datanet D stands on my side". Peers that follow D
// (or want to) merge the named heads, fetching entries they lack.
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import { defineMessage } from '../registry.ts'

const cidString = z.string().max(128).refine((s) => { try { CID.parse(s); return true } catch { return false } }, 'expected a CID')

export const datanetHeadsSchema = z.object({
  /** The datanet id: CID of its genesis entry. */
  datanet: cidString,
  name: z.string().max(64),
  heads: z.array(cidString).min(1).max(64),
  /** Entries the sender holds: a hint of how far behind the receiver is. */
  entries: z.number().int().nonnegative().max(10_000_000)
})

export type DatanetHeads = z.infer<typeof datanetHeadsSchema>

export const DatanetHeadsMessage = defineMessage({
  type: 'datanet-heads/1',
  maxBodyBytes: 8 * 1024,
  schema: datanetHeadsSchema
})
