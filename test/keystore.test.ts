import assert from 'node:assert/strict'
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { computeAddress, getAddress, hexlify, Wallet } from 'ethers'
import {
  createKeystore, DEFAULT_KDF_COST, identityFromPrivateKey, KEYSTORE_FILE, keystorePath, loadKeystore, type Identity
} from '../peer/identity/keystore.ts'
import {
  CorruptKeystoreError, EXIT, KeystoreExistsError, KeystoreNotFoundError, KeystorePermissionsError, PeerError, UsageError, WrongPassphraseError
} from '../peer/errors.ts'
import { identityOf } from '../protocols/identity.ts'
import { verifyDigest } from '../protocols/signer.ts'
import { expectRejects } from './helpers/expect-throws.ts'

const PASS = 'correct horse battery staple'
const FAST = { kdfCost: 10 }

function assertSameIdentity (a: Identity, b: Identity): void {
  assert.equal(a.peerId, b.peerId)
  assert.equal(a.address, b.address)
  assert.deepEqual([...a.publicKey], [...b.publicKey])
}

describe('protocols/identity', () => {
  const sk = new Uint8Array(32).fill(0x42)
  const publicKey = secp256k1.getPublicKey(sk, true)

  it('identityOf gives a peer id that @libp2p/peer-id parses back to the same public key', () => {
    const { peerId } = identityOf(publicKey)
    const parsed = peerIdFromString(peerId)
    assert.equal(parsed.type, 'secp256k1')
    assert.ok(parsed.publicKey != null)
    assert.deepEqual([...parsed.publicKey.raw], [...publicKey])
    assert.equal(parsed.toString(), peerIdFromPublicKey(publicKeyFromRaw(publicKey)).toString())
    assert.match(peerId, /^16Uiu2/)
  })

  it('identityOf gives the checksummed address ethers computes', () => {
    const { address } = identityOf(publicKey)
    assert.equal(address, computeAddress(hexlify(publicKey)))
    assert.equal(address, getAddress(address.toLowerCase()))
    // The compressed and uncompressed forms of the key are one Ethereum account.
    assert.equal(address, computeAddress(hexlify(secp256k1.getPublicKey(sk, false))))
    // And it is the account of the private key.
    assert.equal(address, new Wallet(hexlify(sk)).address)
  })

  it('different keys give different identities; the same key always the same', () => {
    const other = secp256k1.getPublicKey(new Uint8Array(32).fill(0x43), true)
    assert.notEqual(identityOf(other).peerId, identityOf(publicKey).peerId)
    assert.notEqual(identityOf(other).address, identityOf(publicKey).address)
    assert.deepEqual(identityOf(new Uint8Array(publicKey)), identityOf(publicKey))
  })

  it('identityFromPrivateKey ties the four faces of one key together', () => {
    const id = identityFromPrivateKey(sk)
    assert.deepEqual([...id.publicKey], [...publicKey])
    assert.deepEqual([...id.signer.publicKey], [...publicKey])
    assert.equal(id.peerId, identityOf(publicKey).peerId)
    assert.equal(id.address, identityOf(publicKey).address)
    assert.equal(peerIdFromPrivateKey(id.libp2pKey).toString(), id.peerId)
    const digest = new Uint8Array(32).fill(7)
    assert.ok(verifyDigest(id.signer.sign(digest), digest, id.publicKey))
  })
})

describe('peer/identity/keystore', () => {
  let root: string
  let n = 0
  /** A fresh, not yet existing data dir per test. */
  const freshDir = (): string => join(root, `data-${n++}`)

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'openledger-keystore-test-'))
  })

  after(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('keystorePath is <data-dir>/keystore.json', () => {
    assert.equal(KEYSTORE_FILE, 'keystore.json')
    assert.equal(keystorePath('/some/dir'), join('/some/dir', 'keystore.json'))
    assert.equal(DEFAULT_KDF_COST, 17)
  })

  it('createKeystore then loadKeystore with the right passphrase gives the same identity', async () => {
    const dir = freshDir()
    const created = await createKeystore(dir, PASS, FAST)
    const loaded = await loadKeystore(dir, PASS)
    assertSameIdentity(created, loaded)
    assert.match(created.address, /^0x[0-9a-fA-F]{40}$/)
    assert.equal(created.address, getAddress(created.address.toLowerCase()), 'checksummed')
    // The loaded signer is the same key: it signs what the created identity verifies.
    const digest = new Uint8Array(32).fill(1)
    assert.ok(verifyDigest(loaded.signer.sign(digest), digest, created.publicKey))
  })

  it('each createKeystore makes a new random key', async () => {
    const a = await createKeystore(freshDir(), PASS, FAST)
    const b = await createKeystore(freshDir(), PASS, FAST)
    assert.notEqual(a.peerId, b.peerId)
    assert.notEqual(a.address, b.address)
  })

  it('the keystore file is mode 0600 and is the only file left in the data dir', async () => {
    const dir = freshDir()
    await createKeystore(dir, PASS, FAST)
    const st = await stat(keystorePath(dir))
    assert.equal(st.mode & 0o777, 0o600)
    assert.deepEqual(await readdir(dir), [KEYSTORE_FILE])
  })

  it('the address in the keystore JSON equals the identity\'s address; the key is encrypted', async () => {
    const dir = freshDir()
    const id = await createKeystore(dir, PASS, FAST)
    const text = await readFile(keystorePath(dir), 'utf8')
    type Crypto = { kdf: string, kdfparams: { n: number } }
    const json = JSON.parse(text) as { version: number, address: string, crypto?: Crypto, Crypto?: Crypto }
    assert.equal(json.version, 3)
    assert.equal(getAddress('0x' + json.address.replace(/^0x/, '')), id.address)
    // Web3 Secret Storage allows either spelling; ethers writes "Crypto".
    const crypto = json.crypto ?? json.Crypto
    assert.ok(crypto != null)
    assert.equal(crypto.kdf, 'scrypt')
    assert.equal(crypto.kdfparams.n, 2 ** FAST.kdfCost)
    // The private key is nowhere in the file in clear.
    const wallet = await Wallet.fromEncryptedJson(text, PASS)
    assert.equal(wallet.address, id.address)
    assert.ok(!text.toLowerCase().includes(wallet.privateKey.slice(2).toLowerCase()))
  })

  it('the libp2p key\'s peer id equals identity.peerId (created and loaded)', async () => {
    const dir = freshDir()
    const created = await createKeystore(dir, PASS, FAST)
    const loaded = await loadKeystore(dir, PASS)
    assert.equal(peerIdFromPrivateKey(created.libp2pKey).toString(), created.peerId)
    assert.equal(peerIdFromPrivateKey(loaded.libp2pKey).toString(), created.peerId)
    assert.equal(created.libp2pKey.type, 'secp256k1')
    assert.deepEqual([...created.libp2pKey.publicKey.raw], [...created.publicKey])
  })

  it('a wrong passphrase is WrongPassphraseError (exit code 4)', async () => {
    const dir = freshDir()
    await createKeystore(dir, PASS, FAST)
    const err = await expectRejects(loadKeystore(dir, PASS + '!'), WrongPassphraseError)
    assert.equal(err.exitCode, EXIT.passphrase)
    assert.equal(err.details.path, keystorePath(dir))
    await expectRejects(loadKeystore(dir, ''), WrongPassphraseError)
  })

  it('a keystore readable or writable by group or others is refused with KeystorePermissionsError naming chmod 600, before any passphrase is tried', async () => {
    const dir = freshDir()
    await createKeystore(dir, PASS, FAST)
    const path = keystorePath(dir)
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o660, 0o666]) {
      await chmod(path, mode)
      // The wrong passphrase too: the file's mode is judged first, so nothing is learned about the passphrase.
      for (const pass of [PASS, 'wrong']) {
        const err = await expectRejects(loadKeystore(dir, pass), KeystorePermissionsError)
        assert.equal(err.name, 'KeystorePermissionsError')
        assert.equal(err.exitCode, EXIT.failure)
        assert.equal(err.details.path, path)
        assert.equal(err.details.mode, mode)
        assert.ok(err.message.includes(`chmod 600 ${path}`), err.message)
        assert.ok(err.message.includes(`0${mode.toString(8)}`), err.message)
      }
    }
    // The owner's bits alone are fine, read-only too.
    for (const mode of [0o600, 0o400]) {
      await chmod(path, mode)
      assert.match((await loadKeystore(dir, PASS)).address, /^0x/)
    }
  })

  it('a missing keystore is KeystoreNotFoundError (exit code 3)', async () => {
    const dir = freshDir()
    const err = await expectRejects(loadKeystore(dir, PASS), KeystoreNotFoundError)
    assert.equal(err.exitCode, EXIT.notFound)
    assert.equal(err.details.path, keystorePath(dir))
  })

  it('refuses to overwrite an existing keystore with KeystoreExistsError, leaving it intact', async () => {
    const dir = freshDir()
    const first = await createKeystore(dir, PASS, FAST)
    const before = await readFile(keystorePath(dir), 'utf8')
    const err = await expectRejects(createKeystore(dir, 'another passphrase', FAST), KeystoreExistsError)
    assert.equal(err.details.path, keystorePath(dir))
    assert.equal(await readFile(keystorePath(dir), 'utf8'), before)
    assertSameIdentity(await loadKeystore(dir, PASS), first)
  })

  it('two concurrent createKeystore calls on one data dir: exactly one wins, and its key is the one stored', async () => {
    const dir = freshDir()
    const results = await Promise.allSettled([createKeystore(dir, PASS, FAST), createKeystore(dir, PASS, FAST)])
    const won = results.filter((r): r is PromiseFulfilledResult<Identity> => r.status === 'fulfilled')
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    // Otherwise a caller is handed an identity whose key was silently overwritten on disk.
    assert.equal(won.length, 1, `both calls succeeded with ${won.map(w => w.value.address).join(' and ')}`)
    assert.equal(lost.length, 1)
    assert.ok(lost[0].reason instanceof KeystoreExistsError)
    assertSameIdentity(await loadKeystore(dir, PASS), won[0].value)
  })

  it('a file that is not JSON is CorruptKeystoreError', async () => {
    const dir = freshDir()
    await createKeystore(dir, PASS, FAST)
    await writeFile(keystorePath(dir), '{ this is not json')
    const err = await expectRejects(loadKeystore(dir, PASS), CorruptKeystoreError)
    assert.equal(err.exitCode, EXIT.failure)
    assert.equal(err.details.path, keystorePath(dir))
  })

  it('JSON that is not a keystore, or a truncated one, is CorruptKeystoreError', async () => {
    const dir = freshDir()
    await createKeystore(dir, PASS, FAST)
    const good = await readFile(keystorePath(dir), 'utf8')
    for (const text of ['{}', '[]', 'null', '{"version": 3}', good.slice(0, Math.floor(good.length / 2)), '']) {
      await writeFile(keystorePath(dir), text)
      await expectRejects(loadKeystore(dir, PASS), CorruptKeystoreError)
    }
  })

  it('a keystore whose address does not match its key is CorruptKeystoreError', async () => {
    const dir = freshDir()
    await createKeystore(dir, PASS, FAST)
    const json = JSON.parse(await readFile(keystorePath(dir), 'utf8')) as { address: string }
    json.address = Wallet.createRandom().address.slice(2).toLowerCase()
    await writeFile(keystorePath(dir), JSON.stringify(json))
    await expectRejects(loadKeystore(dir, PASS), CorruptKeystoreError)
  })

  it('refuses an empty passphrase and kdf costs outside 10..20 with UsageError, writing nothing', async () => {
    const dir = freshDir()
    const empty = await expectRejects(createKeystore(dir, '', FAST), UsageError)
    assert.equal(empty.exitCode, EXIT.usage)
    for (const kdfCost of [9, 21, 12.5, Number.NaN]) {
      await expectRejects(createKeystore(dir, PASS, { kdfCost }), UsageError)
    }
    await expectRejects(loadKeystore(dir, PASS), KeystoreNotFoundError)
  })
})
