// The simulator's engine: seeded and deterministic (the same scenario and seed give
// byte-identical CSV), its payouts are exactly what the ledger function makes of its own
// receipts, scenarios are checked on load, and overrides and sweeps are parsed strictly.
import assert from 'node:assert/strict'
import { computeEpochLedger, type JobReceipt } from '../settlement/epoch/index.ts'
import { runSimulation } from '../sim/engine.ts'
import { InvalidScenarioError } from '../sim/errors.ts'
import { toOpen } from '../sim/money.ts'
import { TREASURY } from '../sim/population.ts'
import { toCsv } from '../sim/report/csv.ts'
import { loadScenario, parseScenario, parseSweep, scaleAgents, setParam, shippedScenarios, sweepValues, type Scenario } from '../sim/scenario.ts'
import { expectThrows } from './helpers/expect-throws.ts'

async function small (name: string, epochs: number, sets: Record<string, unknown> = {}): Promise<Scenario> {
  let s = setParam(await loadScenario(name), 'epochs', epochs)
  for (const [k, v] of Object.entries(sets)) s = setParam(s, k, v)
  return s
}

describe('simulator engine', function () {
  it('is deterministic: the same scenario and seed give byte-identical series, another seed another run', async function () {
    const s = await small('baseline', 25)
    const a = runSimulation(s)
    const b = runSimulation(s)
    assert.equal(toCsv(a.series), toCsv(b.series))
    assert.deepEqual([...a.population.earned], [...b.population.earned])
    const c = runSimulation(setParam(s, 'seed', s.seed + 1))
    assert.notEqual(toCsv(a.series), toCsv(c.series))
  })

  it('pays every address exactly what computeEpochLedger makes of the epoch\'s receipts', async function () {
    // No verifier ever rejects (detection 0), so no prover shares: earnings are the ledger's alone.
    const s = await small('free-riders', 20)
    const byEpoch: JobReceipt[][] = []
    const r = runSimulation(s, { onReceipts: (e, receipts) => { byEpoch[e] = [...receipts] } })
    const owed = new Map<string, bigint>()
    let fees = 0n
    for (const receipts of byEpoch) {
      const l = computeEpochLedger({ receipts, previous: [], feeSplit: s.params.feeSplit, treasury: TREASURY })
      for (const e of l.earned) owed.set(e.account, (owed.get(e.account) ?? 0n) + e.amount)
      fees += l.fees
    }
    assert.ok(owed.size > 50, 'many addresses were paid')
    const pop = r.population
    for (let i = 0; i < pop.size; i++) {
      const expected = toOpen(owed.get(pop.addresses[i]) ?? 0n)
      assert.ok(Math.abs(pop.earned[i] - expected) < 1e-6, `agent ${i}: earned ${pop.earned[i]}, ledger ${expected}`)
    }
    assert.ok(Math.abs(r.totals.fees - toOpen(fees)) < 1e-6)
  })

  it('uses the policy\'s audit and forced-error rates when set to auto, and the scenario\'s otherwise', async function () {
    const s = await small('free-riders', 2)
    const auto = runSimulation(s)
    assert.equal(auto.rates.auditRate, auto.rates.audit.p)
    assert.ok(auto.rates.audit.deterred && auto.rates.audit.p >= auto.rates.audit.breakEven)
    assert.equal(runSimulation(setParam(s, 'auditRate', 0.05)).rates.auditRate, 0.05)
  })

  it('loads every shipped scenario', async function () {
    const names = await shippedScenarios()
    for (const n of ['baseline', 'free-riders', 'data-spam', 'collusion', 'sweep-audit']) assert.ok(names.includes(n), n)
    for (const n of names) assert.equal((await loadScenario(n)).name, n)
    assert.ok((await loadScenario('sweep-audit')).sweep !== undefined)
  })

  it('refuses malformed scenarios and overrides', async function () {
    expectThrows(() => parseScenario({ agents: { worker: 1, requester: 1 }, bogus: 1 }), InvalidScenarioError)
    expectThrows(() => parseScenario({ agents: { worker: 1, requester: 1, wizard: 3 } }), InvalidScenarioError)
    expectThrows(() => parseScenario({ agents: { worker: 1, requester: 1 }, params: { auditRate: 2 } }), InvalidScenarioError)
    expectThrows(() => parseScenario({ agents: { worker: 1, requester: 1 }, params: { feeSplit: { worker: 9000 } } }), InvalidScenarioError)
    expectThrows(() => parseScenario({ agents: { requester: 1 } }), InvalidScenarioError)
    const s = await loadScenario('baseline')
    expectThrows(() => setParam(s, 'noSuchParam', 1), InvalidScenarioError)
    expectThrows(() => setParam(s, 'epochs', 0), InvalidScenarioError)
    expectThrows(() => parseSweep('auditRate=0.1'), InvalidScenarioError)
    assert.equal(setParam(s, 'feeSplit.worker', 5000).params.feeSplit.worker, 5000)
    assert.equal(setParam(s, 'attribution.maxShare', 1).params.attribution.maxShare, 1)
    await assert.rejects(loadScenario('no-such-scenario'), InvalidScenarioError)
  })

  it('parses sweeps and scales agent mixes exactly', async function () {
    const spec = parseSweep('auditRate=0.02..0.3:8')
    assert.deepEqual(spec, { param: 'auditRate', from: 0.02, to: 0.3, steps: 8 })
    const v = sweepValues(spec)
    assert.equal(v.length, 8)
    assert.equal(v[0], 0.02)
    assert.equal(v[7], 0.3)
    const scaled = scaleAgents(await loadScenario('baseline'), 12_345)
    assert.equal(Object.values(scaled.agents).reduce((a, b) => a + b, 0), 12_345)
  })
})
