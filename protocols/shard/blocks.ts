// What a block of a datanet may be, and what it links to. Codecs: dag-pb (UnixFS files
// as Kubo writes them), raw (raw leaves) and dag-cbor (manifest entries, which link to
// files); hash: sha2-256 only, checked with node:crypto on the main thread. (WebCrypto's
// digest runs in the thread pool, but measured here it cost ~15-20% more CPU in all
// and gave no throughput on 2 cores, where both processes already keep both busy.)
import { createHash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { BlockHashMismatchError, MalformedDagError, UnsupportedCidError } from '../../storage/unixfs/errors.ts'

const SHA2_256 = 0x12
const CODECS = new Set([dagPb.code, raw.code, dagCbor.code])

/** Throws UnsupportedCidError unless the CID is dag-pb/raw/dag-cbor under sha2-256. */
export function checkCid (cid: CID): void {
  if (cid.multihash.code !== SHA2_256 || cid.multihash.size !== 32) {
    throw new UnsupportedCidError(`unsupported hash function 0x${cid.multihash.code.toString(16)} in ${cid}`, { cid: cid.toString() })
  }
  if (!CODECS.has(cid.code)) {
    throw new UnsupportedCidError(`unsupported codec 0x${cid.code.toString(16)} in ${cid}`, { cid: cid.toString() })
  }
}

/** A CID from untrusted bytes; the whole array must be the CID. */
export function cidFromBytes (bytes: Uint8Array): CID {
  let cid: CID
  try {
    cid = CID.decode(bytes)
  } catch (err) {
    throw new UnsupportedCidError('not a CID', { cause: (err as Error).message })
  }
  checkCid(cid)
  return cid
}

/** The CID at the front of `bytes` and what follows it. */
export function splitCid (bytes: Uint8Array): [CID, Uint8Array] {
  let pair: [CID, Uint8Array]
  try {
    pair = CID.decodeFirst(bytes)
  } catch (err) {
    throw new UnsupportedCidError('block frame does not start with a CID', { cause: (err as Error).message })
  }
  checkCid(pair[0])
  return pair
}

/** A map key for a CID: its binary form as a latin1 string (native, unlike base58). */
export function keyOf (cid: CID): string {
  const b = cid.bytes
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')
}

/** Throws BlockHashMismatchError unless sha2-256(bytes) is the CID's digest. */
export function verifyBlock (cid: CID, bytes: Uint8Array): void {
  const digest = createHash('sha256').update(bytes).digest()
  if (!digest.equals(cid.multihash.digest)) {
    throw new BlockHashMismatchError(`block ${cid} does not hash to its CID`, { cid: cid.toString(), actual: digest.toString('hex'), bytes: bytes.byteLength })
  }
}

/** The CIDs a block links to, in link order (dag-cbor: in the order the decoder meets them). */
export function linksOf (cid: CID, bytes: Uint8Array): CID[] {
  if (cid.code === raw.code) return []
  try {
    if (cid.code === dagPb.code) return dagPb.decode(bytes).Links.map(l => l.Hash)
    return cborLinks(dagCbor.decode(bytes))
  } catch (err) {
    throw new MalformedDagError(`${cid} does not decode as ${cid.code === dagPb.code ? 'dag-pb' : 'dag-cbor'}: ${(err as Error).message}`, { cid: cid.toString() })
  }
}

function cborLinks (root: unknown): CID[] {
  const out: CID[] = []
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v == null || typeof v !== 'object' || v instanceof Uint8Array) continue
    const cid = CID.asCID(v)
    if (cid != null) { out.push(cid); continue }
    const children = Array.isArray(v) ? v : Object.values(v)
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i])
  }
  return out
}
