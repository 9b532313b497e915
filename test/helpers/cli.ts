// Run the openledger CLI as a user would: a separate process on the project's Node
// (peer/devnet/peer-cli.ts, shared with the benches), and a liveness probe for tests.
export { CLI, devnetCli, runCli, spawnCli, type CliResult } from '../../peer/devnet/peer-cli.ts'

export function isAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}
