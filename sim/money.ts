// OPEN amounts: scenarios and statistics speak OPEN as numbers, the policies speak wei as
// bigint. Conversions go through micro-OPEN integers, so an amount that is whole in
// micro-OPEN (every scenario value and every stake the sim holds) converts exactly.

export const WEI_PER_OPEN = 10n ** 18n
const WEI_PER_MICRO = 10n ** 12n

/** OPEN (a number) -> wei, rounded to the nearest micro-OPEN. */
export function toWei (open: number): bigint {
  return BigInt(Math.round(open * 1e6)) * WEI_PER_MICRO
}

/** wei -> OPEN as a number (exact below 2^53 micro-OPEN, i.e. 9 billion OPEN). */
export function toOpen (wei: bigint): number {
  return Number(wei / WEI_PER_MICRO) / 1e6 + Number(wei % WEI_PER_MICRO) / 1e18
}
