// openledger key new|show
import type { Command } from 'commander'
import { createKeystore, DEFAULT_KDF_COST, keystorePath, loadKeystore } from '../../identity/keystore.ts'
import { readPassphrase } from '../../identity/passphrase.ts'
import { DATA_DIR_HELP, dataDirOf, intOption } from '../options.ts'
import { printJson } from '../output.ts'

export function keyCommand (program: Command): void {
  const key = program.command('key').description('create or show this participant\'s secp256k1 key')

  key.command('new')
    .description('create a new key, stored encrypted in <data-dir>/keystore.json')
    .option('-d, --data-dir <dir>', DATA_DIR_HELP)
    .option('--kdf-cost <log2N>', `scrypt cost as log2(N), 10-20 (default ${DEFAULT_KDF_COST}; lower only for throwaway keys)`, intOption('--kdf-cost', 10, 20))
    .option('--json', 'print one JSON object')
    .action(async (opts: { dataDir?: string, kdfCost?: number, json?: boolean }) => {
      const dataDir = dataDirOf(opts)
      const passphrase = await readPassphrase('New keystore passphrase: ')
      const id = await createKeystore(dataDir, passphrase, { kdfCost: opts.kdfCost })
      const out = { peerId: id.peerId, address: id.address, keystore: keystorePath(dataDir) }
      if (opts.json === true) printJson(out)
      else console.log(`peer id  ${out.peerId}\naddress  ${out.address}\nkeystore ${out.keystore}`)
    })

  key.command('show')
    .description('print the peer id and Ethereum address of the stored key')
    .option('-d, --data-dir <dir>', DATA_DIR_HELP)
    .option('--json', 'print one JSON object')
    .action(async (opts: { dataDir?: string, json?: boolean }) => {
      const dataDir = dataDirOf(opts)
      const id = await loadKeystore(dataDir, await readPassphrase())
      const out = { peerId: id.peerId, address: id.address, publicKey: Buffer.from(id.publicKey).toString('hex') }
      if (opts.json === true) printJson(out)
      else console.log(`peer id  ${out.peerId}\naddress  ${out.address}`)
    })
}
