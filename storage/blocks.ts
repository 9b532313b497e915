// Block helpers over interface-blockstore: whole blocks in and out, dag-cbor values
// addressed by their CID.
import * as dagCbor from '@ipld/dag-cbor'
import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

export type BlockStore = Pick<Blockstore, 'get' | 'put' | 'has'>
export interface GetOptions { signal?: AbortSignal }

/** The whole block (blockstores hand blocks out as chunk streams). */
export async function getBlock (store: Pick<Blockstore, 'get'>, cid: CID, opts: GetOptions = {}): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of store.get(cid, opts)) {
    chunks.push(chunk)
    size += chunk.byteLength
  }
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(size)
  let o = 0
  for (const c of chunks) { out.set(c, o); o += c.byteLength }
  return out
}

export async function dagCborCid (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(dagCbor.code, await sha256.digest(bytes))
}

/** Encode a value as dag-cbor, store it, return its CID and bytes. */
export async function putDagCbor (store: BlockStore, value: unknown): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = dagCbor.encode(value)
  const cid = await dagCborCid(bytes)
  await store.put(cid, bytes)
  return { cid, bytes }
}
