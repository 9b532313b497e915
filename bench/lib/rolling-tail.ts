// New entries of a capped rolling array (push at the end, shift from the front once
// it exceeds `cap`), given two reads of it. Below the cap the tail is exact. At the
// cap the front has moved by an unknown amount: the shift is found by matching the
// old array's suffix against the new array's prefix; `exact` is false when that
// match is missing (entries were lost between reads) or ambiguous.

export interface Tail<T> {
  items: T[]
  exact: boolean
}

export function rollingTail<T> (prev: readonly T[], cur: readonly T[], cap: number): Tail<T> {
  if (cur.length < prev.length) return { items: [...cur], exact: false } // the array was reset (restart)
  if (cur.length < cap) return { items: cur.slice(prev.length), exact: true }
  if (prev.length === 0) return { items: [...cur], exact: true }
  // k = how far the front moved; try the smallest first (fewest new entries).
  const matches: number[] = []
  for (let k = 0; k < prev.length && matches.length < 2; k++) {
    const overlap = prev.length - k
    if (overlap > cur.length) continue
    let ok = true
    for (let i = 0; i < overlap; i++) if (prev[k + i] !== cur[i]) { ok = false; break }
    if (ok) matches.push(k)
  }
  // No overlap at all: everything is new, and some entries were lost between reads.
  if (matches.length === 0) return { items: [...cur], exact: false }
  const k = matches[0]
  return { items: cur.slice(prev.length - k), exact: matches.length === 1 }
}
