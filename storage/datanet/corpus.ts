// Realistic datanets from the real corpora that install from npm: SpamAssassin (one
// contributor per sender domain) and the State of the Union addresses (one per
// president). Each contributor signs its own contribution with its own key.
//
// Those keys are DERIVED from a public string (corpus and contributor id), so any
// devnet can rebuild them and the demo contributors can later claim what they earn.
// They are demo identities: anyone can derive them; never use them for real value.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { signatureToBytes, sketchSignature } from '../dedupe/minhash.ts'
import { sotuContributors } from '../corpora/sotu.ts'
import { spamAssassinContributors, spamAssassinDataDir } from '../corpora/spam-assassin.ts'
import type { Contributor, CorpusItem } from '../corpora/types.ts'
import type { BlockStore } from '../blocks.ts'
import { StorageError } from '../errors.ts'
import type { ManifestLog } from '../manifest/log.ts'
import { addressOf, type RecordSigner } from '../signing.ts'
import { importFile } from '../unixfs/index.ts'
import type { IngestedFile } from './ingest.ts'
import { MAX_FILES_PER_CONTRIBUTION, type ContributionFile } from './records.ts'
import type { DatanetStore } from './store.ts'

export const CORPORA = ['spam-assassin', 'sotu'] as const
export type CorpusName = typeof CORPORA[number]

/** A corpus datanet of that name is already on this peer. */
export class AlreadyImportedError extends StorageError {}

const ABOUT: Record<CorpusName, { description: string, license: string }> = {
  'spam-assassin': {
    description: 'SpamAssassin public mail corpus: spam, easy ham and hard ham, one contributor per sender domain',
    license: 'Apache-2.0'
  },
  sotu: {
    description: 'State of the Union addresses 1790-2021, one contributor per president',
    license: 'CC0-1.0'
  }
}

export interface DemoContributor extends RecordSigner { id: string, address: string }

/** The derived demo key of a corpus contributor (see the warning above). */
export function corpusContributorSigner (corpus: string, id: string): DemoContributor {
  let seed = keccak_256(new TextEncoder().encode(`openledger/demo-contributor/1/${corpus}/${id}`))
  while (!secp256k1.utils.isValidSecretKey(seed)) seed = keccak_256(seed)
  const secret = seed
  const publicKey = secp256k1.getPublicKey(secret, true)
  return { id, publicKey, address: addressOf(publicKey), sign: (digest) => secp256k1.sign(digest, secret, { prehash: false }) }
}

interface Source { contributors: Array<Contributor<CorpusItem & { label?: string }>>, bytesOf: (item: CorpusItem) => Promise<Uint8Array>, extension: string, mediaType: ContributionFile['mediaType'] }

function source (corpus: CorpusName, limit?: number): Source {
  if (corpus === 'spam-assassin') {
    const dir = spamAssassinDataDir()
    return {
      contributors: spamAssassinContributors({ limit }),
      // The original message bytes (the JSON text has invalid UTF-8 replaced).
      bytesOf: async (item) => new Uint8Array(await readFile(join(dir, `${item.name}.txt`))),
      extension: '.eml',
      mediaType: 'message/rfc822'
    }
  }
  return {
    contributors: sotuContributors({ limit }),
    bytesOf: async (item) => new TextEncoder().encode(item.text),
    extension: '.txt',
    mediaType: 'text/plain'
  }
}

export interface CorpusImportProgress { contributorsDone: number, contributorsTotal: number, files: number, bytes: number }

export interface CorpusImportResult {
  log: ManifestLog
  contributors: Array<{ id: string, address: string, files: number, bytes: number }>
}

/**
 * Build the corpus datanet. `limit` keeps it small: for spam-assassin, that many mails
 * sampled evenly over the corpus; for sotu, the first that many presidents.
 */
export async function importCorpus (store: DatanetStore, blockstore: BlockStore, corpus: CorpusName, creator: RecordSigner,
  opts: { limit?: number, onProgress?: (p: CorpusImportProgress) => void, signal?: AbortSignal } = {}): Promise<CorpusImportResult> {
  if (store.list().some(l => (l.genesis.entry.payload as { name: string }).name === corpus)) {
    throw new AlreadyImportedError(`a datanet named "${corpus}" is already on this peer`, { corpus })
  }
  const src = source(corpus, opts.limit)
  const log = await store.create({ name: corpus, ...ABOUT[corpus] }, creator)
  const result: CorpusImportResult['contributors'] = []
  let files = 0
  let bytes = 0
  for (const [i, contributor] of src.contributors.entries()) {
    opts.signal?.throwIfAborted()
    const ingested: IngestedFile[] = []
    for (const item of contributor.items) {
      const data = await src.bytesOf(item)
      const { cid, size } = await importFile(blockstore, data)
      // A mail's label is spam / ham; an address's is its president's party.
      const label = (item as { label?: unknown }).label ?? (item as { party?: unknown }).party
      ingested.push({
        file: { path: item.name + src.extension, cid, size, mediaType: src.mediaType, label: typeof label === 'string' ? label : undefined },
        sketch: item.text.trim() === '' ? null : signatureToBytes(sketchSignature(item.text))
      })
      bytes += size
    }
    files += ingested.length
    const batches: IngestedFile[][] = []
    for (let j = 0; j < ingested.length; j += MAX_FILES_PER_CONTRIBUTION) batches.push(ingested.slice(j, j + MAX_FILES_PER_CONTRIBUTION))
    const signer = corpusContributorSigner(corpus, contributor.id)
    await store.contribute(log.id, batches, ABOUT[corpus].license, signer)
    result.push({ id: contributor.id, address: signer.address, files: ingested.length, bytes: ingested.reduce((s, f) => s + f.file.size, 0) })
    opts.onProgress?.({ contributorsDone: i + 1, contributorsTotal: src.contributors.length, files, bytes })
  }
  return { log: store.resolve(log.id), contributors: result }
}
