// Which files a job holds out for evaluation: those whose sha256(CID) starts with a
// byte below share * 256. A rule on the CID alone, so the worker, a verifier and the
// recipe that pretrains a base (which must never see held-out files) all agree.

import { createHash } from 'node:crypto'

export const DEFAULT_HELD_OUT = 0.1

export function isHeldOut (cid: string, share: number = DEFAULT_HELD_OUT): boolean {
  return createHash('sha256').update(cid).digest()[0] < share * 256
}
