// Read and verify UnixFS files block by block. Every block is re-hashed against its CID
// before its bytes are used, and every node's declared sizes are checked against its
// children, so a corrupt store or a lying peer gives a typed error, never wrong bytes.
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { equals } from 'multiformats/bytes'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { BlockHashMismatchError, FileTooLargeError, MalformedDagError, MissingBlockError, NotAFileError, UnsupportedCidError } from './errors.ts'
import type { Blockstore } from 'interface-blockstore'
import { getBlock } from '../blocks.ts'

/** What reading needs: only `get` is used. */
export type ReadableBlockstore = Pick<Blockstore, 'get'>

/** Deeper than any real file: a balanced tree of 174 links is 174^8 chunks deep at 8. */
export const MAX_DAG_DEPTH = 32

export interface ReadOptions {
  /** Refuse (FileTooLargeError) a file larger than this, before reading its data. */
  maxBytes?: number
  signal?: AbortSignal
}

export interface VerifyResult {
  cid: CID
  /** Every distinct block of the DAG, root first, then depth-first in link order. */
  blocks: CID[]
  /** File size in bytes. */
  size: number
  /** Total bytes of the distinct blocks (what the DAG occupies in a blockstore). */
  dagBytes: number
}

type FileNode =
  | { kind: 'raw', bytes: Uint8Array, data: Uint8Array, links: [], blockSizes: [] }
  | { kind: 'pb', bytes: Uint8Array, data: Uint8Array, links: CID[], blockSizes: number[] }

function toCid (cid: CID | string): CID {
  if (typeof cid !== 'string') return cid
  try {
    return CID.parse(cid)
  } catch (err) {
    throw new UnsupportedCidError(`not a CID: ${cid}`, { cid, cause: String(err) })
  }
}

/** The whole block: blockstores hand blocks out as a stream of chunks. (storage/blocks.ts
 *  has the same helper, but it asks for a store with put and has as well.) */

/** Fetch one block and check its bytes against the CID's multihash. */
async function loadVerified (store: ReadableBlockstore, cid: CID, signal?: AbortSignal): Promise<Uint8Array> {
  if (cid.multihash.code !== sha256.code || cid.multihash.size !== 32) {
    throw new UnsupportedCidError(`unsupported hash function 0x${cid.multihash.code.toString(16)} in ${cid}`, { cid: cid.toString(), hash: cid.multihash.code })
  }
  signal?.throwIfAborted()
  let bytes: Uint8Array
  try {
    bytes = await getBlock(store, cid, { signal })
  } catch (err) {
    if ((err as Error)?.name === 'NotFoundError') throw new MissingBlockError(`block ${cid} is not in the blockstore`, { cid: cid.toString() })
    throw err
  }
  const digest = await sha256.digest(bytes)
  if (!equals(digest.digest, cid.multihash.digest)) {
    throw new BlockHashMismatchError(`block ${cid} does not hash to its CID`, { cid: cid.toString(), actual: CID.createV1(cid.code, digest).toString(), bytes: bytes.byteLength })
  }
  return bytes
}

/** Load, verify and decode one node of a UnixFS file. */
async function loadFileNode (store: ReadableBlockstore, cid: CID, signal?: AbortSignal): Promise<FileNode> {
  if (cid.code === raw.code) {
    const bytes = await loadVerified(store, cid, signal)
    return { kind: 'raw', bytes, data: bytes, links: [], blockSizes: [] }
  }
  if (cid.code !== dagPb.code) throw new NotAFileError(`${cid} is neither dag-pb nor raw (codec 0x${cid.code.toString(16)})`, { cid: cid.toString(), codec: cid.code })
  const bytes = await loadVerified(store, cid, signal)
  let node: dagPb.PBNode
  let unixfs: UnixFS
  try {
    node = dagPb.decode(bytes)
    if (node.Data == null) throw new Error('dag-pb node has no Data')
    unixfs = UnixFS.unmarshal(node.Data)
  } catch (err) {
    throw new MalformedDagError(`${cid} is not a UnixFS node: ${(err as Error).message}`, { cid: cid.toString() })
  }
  if (unixfs.type !== 'file' && unixfs.type !== 'raw') {
    throw new NotAFileError(`${cid} is a UnixFS ${unixfs.type}, not a file`, { cid: cid.toString(), type: unixfs.type })
  }
  if (node.Links.length !== unixfs.blockSizes.length) {
    throw new MalformedDagError(`${cid} has ${node.Links.length} links but ${unixfs.blockSizes.length} block sizes`, { cid: cid.toString() })
  }
  return {
    kind: 'pb',
    bytes,
    data: unixfs.data ?? new Uint8Array(0),
    links: node.Links.map(l => l.Hash),
    blockSizes: unixfs.blockSizes.map(s => Number(s))
  }
}

function fileSize (node: FileNode): number {
  let n = node.data.byteLength
  for (const s of node.blockSizes) n += s
  return n
}

function checkSize (cid: CID, node: FileNode, expected: number | undefined, parent: CID | undefined): void {
  if (expected === undefined) return
  const actual = fileSize(node)
  if (actual !== expected) {
    throw new MalformedDagError(`${cid} holds ${actual} file bytes but its parent declares ${expected}`, { cid: cid.toString(), parent: parent?.toString(), actual, expected })
  }
}

function depthCheck (cid: CID, depth: number): void {
  if (depth > MAX_DAG_DEPTH) throw new MalformedDagError(`DAG deeper than ${MAX_DAG_DEPTH} at ${cid}`, { cid: cid.toString(), depth })
}

/**
 * The bytes of the file at `cid`, in order, as they are read: each block is verified
 * before any of its bytes are yielded. Memory stays at one block per tree level.
 */
export async function * readFile (blockstore: ReadableBlockstore, cid: CID | string, opts: ReadOptions = {}): AsyncGenerator<Uint8Array> {
  const root = toCid(cid)
  const rootNode = await loadFileNode(blockstore, root, opts.signal)
  const declared = fileSize(rootNode)
  const max = opts.maxBytes
  if (max !== undefined && declared > max) {
    throw new FileTooLargeError(`${root} is ${declared} bytes, more than the ${max} allowed`, { cid: root.toString(), size: declared, maxBytes: max })
  }

  let emitted = 0
  async function * emit (c: CID, node: FileNode, depth: number): AsyncGenerator<Uint8Array> {
    depthCheck(c, depth)
    if (node.data.byteLength > 0) {
      emitted += node.data.byteLength
      if (max !== undefined && emitted > max) throw new FileTooLargeError(`${root} yields more than the ${max} bytes allowed`, { cid: root.toString(), maxBytes: max })
      yield node.data
    }
    for (let i = 0; i < node.links.length; i++) {
      const child = await loadFileNode(blockstore, node.links[i], opts.signal)
      checkSize(node.links[i], child, node.blockSizes[i], c)
      yield * emit(node.links[i], child, depth + 1)
    }
  }
  yield * emit(root, rootNode, 0)
  if (emitted !== declared) {
    throw new MalformedDagError(`${root} yielded ${emitted} bytes but declares ${declared}`, { cid: root.toString(), emitted, declared })
  }
}

/** Read the whole file into one buffer (for small files; use readFile to stream). */
export async function readFileBytes (blockstore: ReadableBlockstore, cid: CID | string, opts: ReadOptions = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let n = 0
  for await (const p of readFile(blockstore, cid, opts)) { parts.push(p); n += p.byteLength }
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.byteLength }
  return out
}

/**
 * Walk every block of the file DAG at `cid`: fetch it, re-hash its bytes against its
 * CID's sha2-256 multihash, decode it as a UnixFS file node and check its sizes against
 * its children. A block shared by several links is verified once.
 */
export async function verifyDag (blockstore: ReadableBlockstore, cid: CID | string, opts: { signal?: AbortSignal } = {}): Promise<VerifyResult> {
  const root = toCid(cid)
  const sizes = new Map<string, number>()
  const blocks: CID[] = []
  let dagBytes = 0

  async function visit (c: CID, expected: number | undefined, parent: CID | undefined, depth: number): Promise<number> {
    depthCheck(c, depth)
    const key = c.toString()
    const known = sizes.get(key)
    if (known !== undefined) {
      if (expected !== undefined && known !== expected) {
        throw new MalformedDagError(`${c} holds ${known} file bytes but its parent declares ${expected}`, { cid: key, parent: parent?.toString(), actual: known, expected })
      }
      return known
    }
    const node = await loadFileNode(blockstore, c, opts.signal)
    checkSize(c, node, expected, parent)
    blocks.push(c)
    dagBytes += node.bytes.byteLength
    for (let i = 0; i < node.links.length; i++) {
      await visit(node.links[i], node.blockSizes[i], c, depth + 1)
    }
    const size = fileSize(node)
    sizes.set(key, size)
    return size
  }

  const size = await visit(root, undefined, undefined, 0)
  return { cid: root, blocks, size, dagBytes }
}
