// The adversary names a devnet peer can play (peer/market/adversaries/cheats.ts has what each does).
// Apart from it so the CLI can list and check them without loading the compute code.

export const WORKER_CHEATS = ['lazy', 'skip', 'random', 'base', 'stale', 'copy', 'small', 'scores'] as const
export type WorkerCheat = typeof WORKER_CHEATS[number]
export const VERIFIER_CHEATS = ['approve', 'accuse'] as const
export type VerifierCheat = typeof VERIFIER_CHEATS[number]
export type Cheat = WorkerCheat | VerifierCheat
export const CHEATS: readonly Cheat[] = [...WORKER_CHEATS, ...VERIFIER_CHEATS]

export function isWorkerCheat (c: Cheat | undefined): c is WorkerCheat {
  return (WORKER_CHEATS as readonly string[]).includes(c ?? '')
}

/** Parses a comma-separated list of cheats (a CLI value). */
export function parseCheats (list: string): Cheat[] {
  const out = list.split(',').map(s => s.trim()).filter(s => s !== '')
  for (const c of out) if (!(CHEATS as readonly string[]).includes(c)) throw new RangeError(`unknown cheat "${c}" (one of ${CHEATS.join(', ')})`)
  return out as Cheat[]
}
