// One measured simulator run in a process of its own, so its peak memory is its own: the
// baseline scenario's agent mix scaled to N agents, E epochs; prints one JSON line with
// the engine's wall time, the peak RSS and heap high-water, and what the run did.
import { runSimulation } from '../../sim/engine.ts'
import { loadScenario, scaleAgents, setParam } from '../../sim/scenario.ts'

const [agents, epochs, name = 'baseline'] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]]
let s = scaleAgents(await loadScenario(name), agents)
s = setParam(s, 'epochs', epochs)
let heapPeak = 0
let jobs = 0
let active = 0
const r = runSimulation(s, {
  onEpoch: (e, row) => {
    jobs += row.jobs_posted
    active += row.active
    const h = process.memoryUsage().heapUsed
    if (h > heapPeak) heapPeak = h
    if (e % Math.max(1, Math.floor(epochs / 10)) === 0) process.stderr.write(`sim bench: ${agents} agents, epoch ${e}/${epochs}\n`)
  }
})
process.stdout.write(JSON.stringify({
  agents, epochs, ms: r.ms, maxRssKiB: process.resourceUsage().maxRSS, heapPeakBytes: heapPeak,
  jobs, meanActive: active / epochs, receipts: r.totals.receipts, slots: r.population.size
}) + '\n')
