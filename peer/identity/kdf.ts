// scrypt cost for keystores, as log2(N). Kept apart from keystore.ts so the CLI can
// show it in --help without loading ethers.

/** ethers' and geth's default: N = 2^17. */
export const DEFAULT_KDF_COST = 17
export const MIN_KDF_COST = 10
export const MAX_KDF_COST = 20
