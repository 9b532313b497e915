// openledger key new|show. Heavy modules (ethers, libp2p) load inside the actions,
// so --help answers at once.
import type { Command } from 'commander'
import { DEFAULT_KDF_COST, MAX_KDF_COST, MIN_KDF_COST } from '../../identity/kdf.ts'
import { readPassphrase } from '../../identity/passphrase.ts'
import { DATA_DIR_HELP, PASSPHRASE_STDIN_HELP, dataDirOf, intOption } from '../options.ts'
import { printJson } from '../output.ts'

export function keyCommand (program: Command): void {
  const key = program.command('key').description('create or show this participant\'s secp256k1 key')

  key.command('new')
    .description('create a new key, stored encrypted in <data-dir>/keystore.json')
    .option('-d, --data-dir <dir>', DATA_DIR_HELP)
    .option('--kdf-cost <log2N>', `scrypt cost as log2(N), ${MIN_KDF_COST}-${MAX_KDF_COST} (default ${DEFAULT_KDF_COST}; lower only for throwaway keys)`, intOption('--kdf-cost', MIN_KDF_COST, MAX_KDF_COST))
    .option('--passphrase-stdin', PASSPHRASE_STDIN_HELP)
    .option('--json', 'print one JSON object')
    .action(async (opts: { dataDir?: string, kdfCost?: number, passphraseStdin?: boolean, json?: boolean }) => {
      const { createKeystore, keystorePath } = await import('../../identity/keystore.ts')
      const dataDir = dataDirOf(opts)
      const passphrase = await readPassphrase({ prompt: 'New keystore passphrase: ', stdin: opts.passphraseStdin })
      const id = await createKeystore(dataDir, passphrase, { kdfCost: opts.kdfCost })
      const out = { peerId: id.peerId, address: id.address, keystore: keystorePath(dataDir) }
      if (opts.json === true) printJson(out)
      else console.log(`peer id  ${out.peerId}\naddress  ${out.address}\nkeystore ${out.keystore}`)
    })

  key.command('show')
    .description('print the peer id and Ethereum address of the stored key')
    .option('-d, --data-dir <dir>', DATA_DIR_HELP)
    .option('--passphrase-stdin', PASSPHRASE_STDIN_HELP)
    .option('--json', 'print one JSON object')
    .action(async (opts: { dataDir?: string, passphraseStdin?: boolean, json?: boolean }) => {
      const { loadKeystore } = await import('../../identity/keystore.ts')
      const dataDir = dataDirOf(opts)
      const id = await loadKeystore(dataDir, await readPassphrase({ stdin: opts.passphraseStdin }))
      const out = { peerId: id.peerId, address: id.address, publicKey: Buffer.from(id.publicKey).toString('hex') }
      if (opts.json === true) printJson(out)
      else console.log(`peer id  ${out.peerId}\naddress  ${out.address}`)
    })
}
