// The participant's one secp256k1 key, kept encrypted in an ethers (Web3 Secret
// Storage v3) JSON keystore at <data-dir>/keystore.json. The same 32 bytes are the
// libp2p peer key, the envelope signer and the Ethereum account that receives OPEN.
// The file is written 0600 and only loaded while it stays so.
import { access, open } from 'node:fs/promises'
import { join } from 'node:path'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { decryptKeystoreJson, encryptKeystoreJson, getBytes, isKeystoreJson, Wallet } from 'ethers'
import { identityOf } from '../../protocols/identity.ts'
import { signerFromPrivateKey, type Signer } from '../../protocols/signer.ts'
import { CorruptKeystoreError, KeystoreExistsError, KeystoreNotFoundError, KeystorePermissionsError, UsageError, WrongPassphraseError } from '../errors.ts'
import { writeFileAtomic } from '../../storage/atomic-file.ts'
import { DEFAULT_KDF_COST, MAX_KDF_COST, MIN_KDF_COST } from './kdf.ts'

export { DEFAULT_KDF_COST }

export const KEYSTORE_FILE = 'keystore.json'

export interface Identity {
  /** libp2p peer id (base58 multihash of the secp256k1 public key). */
  peerId: string
  /** Checksummed Ethereum address of the same key. */
  address: string
  /** 33-byte compressed public key. */
  publicKey: Uint8Array
  /** The key as libp2p wants it. */
  libp2pKey: PrivateKey
  signer: Signer
}

export function keystorePath (dataDir: string): string {
  return join(dataDir, KEYSTORE_FILE)
}

export function identityFromPrivateKey (privateKey: Uint8Array): Identity {
  const signer = signerFromPrivateKey(privateKey)
  const { peerId, address } = identityOf(signer.publicKey)
  return { peerId, address, publicKey: signer.publicKey, libp2pKey: privateKeyFromRaw(privateKey), signer }
}

async function exists (path: string): Promise<boolean> {
  try { await access(path); return true } catch { return false }
}

export interface CreateKeystoreOptions {
  /** log2 of scrypt's N. Lower only for throwaway keys (the devnet uses 12). */
  kdfCost?: number
}

/** Make a new random key and store it encrypted. Refuses to overwrite an existing one. */
export async function createKeystore (dataDir: string, passphrase: string, opts: CreateKeystoreOptions = {}): Promise<Identity> {
  const path = keystorePath(dataDir)
  if (await exists(path)) throw new KeystoreExistsError(path)
  if (passphrase.length === 0) throw new UsageError('the passphrase must not be empty')
  const kdfCost = opts.kdfCost ?? DEFAULT_KDF_COST
  if (!Number.isInteger(kdfCost) || kdfCost < MIN_KDF_COST || kdfCost > MAX_KDF_COST) {
    throw new UsageError(`kdf cost must be an integer from ${MIN_KDF_COST} to ${MAX_KDF_COST}`, { kdfCost })
  }
  const wallet = Wallet.createRandom()
  const json = await encryptKeystoreJson({ address: wallet.address, privateKey: wallet.privateKey }, passphrase, {
    scrypt: { N: 2 ** kdfCost }
  })
  try {
    // Exclusive: of two concurrent creators, the second fails instead of replacing
    // the first one's key after it was handed out.
    await writeFileAtomic(path, json, { mode: 0o600, exclusive: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new KeystoreExistsError(path)
    throw err
  }
  return identityFromPrivateKey(getBytes(wallet.privateKey))
}

export async function loadKeystore (dataDir: string, passphrase: string): Promise<Identity> {
  const path = keystorePath(dataDir)
  let file
  try {
    file = await open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new KeystoreNotFoundError(path)
    throw err
  }
  let json: string
  try {
    // The mode of the file actually read (not a path checked, then swapped), before any passphrase is tried.
    const mode = (await file.stat()).mode & 0o777
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) throw new KeystorePermissionsError(path, mode)
    json = await file.readFile('utf8')
  } finally {
    await file.close()
  }
  if (!isKeystoreJson(json)) throw new CorruptKeystoreError(path, 'not a JSON keystore')
  let privateKey: string
  try {
    privateKey = (await decryptKeystoreJson(json, passphrase)).privateKey
  } catch (err) {
    if (/incorrect password/i.test((err as Error).message)) throw new WrongPassphraseError(path)
    throw new CorruptKeystoreError(path, (err as Error).message)
  }
  return identityFromPrivateKey(getBytes(privateKey))
}
