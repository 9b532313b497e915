// One attack's row in the attack bench: whether every attempt was refused, the OPEN it
// took (must be 0), the honest peers it got slashed (must be 0), and the peers that
// stopped answering (crashes, must be 0), with what each attempt ran into.
export interface AttackOutcome {
  attack: string
  /** Finding of issue 19 it tries again. */
  finding: string
  attempts: number
  refused: number
  /** Wei the attacker gained, or moved out of an honest party's reach. */
  openTaken: bigint
  honestSlashed: number
  crashes: number
  /** Each attempt: what it tried and what answered (an error name, a status code). */
  log: Array<{ tried: string, answer: string }>
}

/** Runs `tries`, each resolving to a refusal's name (refused) or throwing/returning null when it went through. */
export async function attempts (tries: Array<[string, () => Promise<string | null>]>): Promise<Pick<AttackOutcome, 'attempts' | 'refused' | 'log'>> {
  const log: AttackOutcome['log'] = []
  let refused = 0
  for (const [tried, run] of tries) {
    let answer: string | null
    try {
      answer = await run()
    } catch (err) {
      answer = (err as { details?: { error?: string } }).details?.error ?? (err as Error).name
    }
    if (answer !== null) refused++
    log.push({ tried, answer: answer ?? 'WENT THROUGH' })
  }
  return { attempts: tries.length, refused, log }
}
