// What a datanet's manifest records, one payload per entry:
//   genesis        the datanet's name, description, licence and creator; its CID is the datanet id
//   contribution   files (shards) a contributor added: Kubo-compatible UnixFS CIDs, sizes, types
//   training-cycle credit written back by a training/attribution job (later issues)
// Limits keep every entry a small block that any peer can fetch and check quickly.
import { CID } from 'multiformats/cid'
import { z } from 'zod'

export const cidSchema = z.custom<CID>((v) => CID.asCID(v) != null, 'expected a CID')
export const addressSchema = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'expected an Ethereum address')
const licenseSchema = z.string().min(1).max(64)

export const DATANET_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/
export const MAX_FILES_PER_CONTRIBUTION = 1_000
export const MAX_CREDITS_PER_CYCLE = 5_000

/** Media types a datanet accepts; anything else is refused before it is stored. */
export const MEDIA_TYPES = ['text/plain', 'text/markdown', 'application/jsonl', 'text/csv', 'message/rfc822', 'application/json'] as const

export const genesisSchema = z.object({
  kind: z.literal('genesis'),
  name: z.string().regex(DATANET_NAME, 'lowercase letters, digits and dashes, at most 63'),
  description: z.string().max(2_000),
  license: licenseSchema,
  creator: addressSchema
})

export const fileSchema = z.object({
  /** Path inside the contribution (relative, '/'-separated). */
  path: z.string().min(1).max(512),
  /** Root of the file's UnixFS DAG: the same CID Kubo's `ipfs add` gives. */
  cid: cidSchema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  mediaType: z.enum(MEDIA_TYPES),
  /** Optional label carried from the source (e.g. spam/ham). */
  label: z.string().max(64).optional()
})

export const contributionSchema = z.object({
  kind: z.literal('contribution'),
  contributor: addressSchema,
  license: licenseSchema,
  files: z.array(fileSchema).min(1).max(MAX_FILES_PER_CONTRIBUTION),
  /** dag-cbor block: MinHash signature bytes (or null) per file, for near-duplicate checks. */
  sketches: cidSchema.optional()
})

export const trainingCycleSchema = z.object({
  kind: z.literal('training-cycle'),
  reporter: addressSchema,
  /** The datanet version the job trained on. */
  version: cidSchema,
  model: z.string().min(1).max(128),
  adapter: cidSchema.optional(),
  /** Payout weights in [0, 1]: an unbounded one (1e300) would take a datanet's whole contributor pool, a negative one send it to the treasury. */
  credits: z.array(z.object({ contribution: cidSchema, weight: z.number().finite().min(0).max(1) })).max(MAX_CREDITS_PER_CYCLE)
})

/**
 * Proof of Attribution's result for one training cycle: each contribution's measured
 * influence and the payout weight the shared policy gave it. A later record for the
 * same cycle (a re-measurement) replaces an earlier one in the view.
 */
export const attributionSchema = z.object({
  kind: z.literal('attribution'),
  reporter: addressSchema,
  /** The training-cycle entry whose adapter was measured. */
  cycle: cidSchema,
  method: z.string().min(1).max(64),
  credits: z.array(z.object({ contribution: cidSchema, weight: z.number().finite().min(0).max(1), influence: z.number().finite() })).max(MAX_CREDITS_PER_CYCLE),
  /** The market's attribution job that measured it (bytes32), and its result file: what makes the record one that may pay. */
  job: z.string().regex(/^0x[0-9a-f]{64}$/).optional(),
  result: cidSchema.optional()
})

export const payloadSchema = z.discriminatedUnion('kind', [genesisSchema, contributionSchema, trainingCycleSchema, attributionSchema])

export type Genesis = z.infer<typeof genesisSchema>
export type ContributionFile = z.infer<typeof fileSchema>
export type Contribution = z.infer<typeof contributionSchema>
export type TrainingCycle = z.infer<typeof trainingCycleSchema>
export type Attribution = z.infer<typeof attributionSchema>
export type Payload = z.infer<typeof payloadSchema>

/** The address a payload claims as its author; it must be the entry's signer. */
export function claimedAuthor (p: Payload): string {
  switch (p.kind) {
    case 'genesis': return p.creator
    case 'contribution': return p.contributor
    case 'training-cycle': return p.reporter
    case 'attribution': return p.reporter
  }
}
