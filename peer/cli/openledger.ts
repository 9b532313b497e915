#!/usr/bin/env node
// The openledger command line. Exit codes: 0 ok, 1 failure, 2 bad usage, 3 not found,
// 4 passphrase missing or wrong, 5 node not running, 6 timed out.
import { Command, CommanderError } from 'commander'
import { EXIT, PeerError } from '../errors.ts'
import { VERSION } from '../version.ts'
import { takeEnvPassphrase } from '../identity/passphrase.ts'
import { attributeCommand } from './commands/attribute.ts'
import { datanetCommand } from './commands/datanet.ts'
import { devnetCommand } from './commands/devnet.ts'
import { flywheelCommand } from './commands/flywheel.ts'
import { keyCommand } from './commands/key.ts'
import { modelCommand } from './commands/model.ts'
import { nodeCommand } from './commands/node.ts'
import { statusCommand } from './commands/status.ts'
import { govCommand, rewardsCommand, stakeCommand } from './commands/settle.ts'
import { chainCommand } from './commands/chain.ts'
import { jobCommand } from './commands/job.ts'
import { simCommand } from './commands/sim.ts'

// Out of the environment before any command runs: whatever it starts (devnet peers,
// anvil, tools) must not inherit the keystore passphrase.
takeEnvPassphrase()

const program = new Command()
  .name('openledger')
  .description('peer-to-peer network that pays people for the AI value they create')
  .version(VERSION)
  .showHelpAfterError('(add --help for usage)')
  .exitOverride()

keyCommand(program)
nodeCommand(program)
statusCommand(program)
devnetCommand(program)
flywheelCommand(program)
datanetCommand(program)
modelCommand(program)
attributeCommand(program)
rewardsCommand(program)
stakeCommand(program)
govCommand(program)
chainCommand(program)
jobCommand(program)
simCommand(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage
  } else if (err instanceof PeerError) {
    process.stderr.write(`error: ${err.message}\n`)
    process.exitCode = err.exitCode
  } else {
    process.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = EXIT.failure
  }
}
