import assert from 'node:assert/strict'

type ErrorClass<E extends Error> = abstract new (...args: any[]) => E

/** Runs fn, asserts it throws exactly this class (by instanceof and by name), returns the error. */
export function expectThrows<E extends Error> (fn: () => unknown, cls: ErrorClass<E>): E {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught !== undefined, `expected ${cls.name}, but nothing was thrown`)
  const err = caught as Error
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err.name}: ${err.message}`)
  assert.equal(err.name, cls.name)
  return err
}

/** Awaits p, asserts it rejects with exactly this class (by instanceof and by name), returns the error. */
export async function expectRejects<E extends Error> (p: Promise<unknown>, cls: ErrorClass<E>): Promise<E> {
  let caught: unknown
  try {
    await p
  } catch (err) {
    caught = err
  }
  assert.ok(caught !== undefined, `expected ${cls.name}, but it resolved`)
  const err = caught as Error
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err.name}: ${err.message}`)
  assert.equal(err.name, cls.name)
  return err as E
}
