// The targets of issue 20's table, each as { pass, value, threshold }: what the
// attribution bench's JSON reports under detail.properties. pass is null where a target
// does not apply (rhoGood when the truth's reliability is under 0.7; a figure that could
// not be measured, e.g. no truth with --no-loo).
import type { NoiseKind } from './scenario.ts'

export interface Property { pass: boolean | null, value: number, threshold: number, direction: '>=' | '<=', note?: string }

export interface EstimatorFigures { rhoAll: number, rhoGood: number, lds: number }

export interface PropertyInputs {
  noise: NoiseKind
  estimators: Record<string, EstimatorFigures>
  reliability: number
  ldsCeiling: number
  creditAuc: number
  badShare: number
  valuableRecall: number
  payoutStability: number
  cost: number
}

function at (value: number, threshold: number, direction: '>=' | '<=', applies = true, note?: string): Property {
  const pass = !applies || !Number.isFinite(value) || !Number.isFinite(threshold) ? null : direction === '>=' ? value >= threshold : value <= threshold
  return { pass, value, threshold, direction, ...(note !== undefined ? { note } : {}) }
}

export function properties (x: PropertyInputs): Record<string, Property> {
  const out: Record<string, Property> = {}
  for (const [name, e] of Object.entries(x.estimators)) {
    out[`${name}.rhoAll`] = at(e.rhoAll, 0.8, '>=')
    out[`${name}.rhoAllVsReliability`] = at(e.rhoAll, 0.9 * Math.sqrt(x.reliability), '>=', true, 'rhoAll >= 0.9 sqrt(truth reliability)')
    out[`${name}.rhoGood`] = at(e.rhoGood, 0.6, '>=', x.reliability >= 0.7, x.reliability >= 0.7 ? undefined : 'truth reliability under 0.7: not applied')
    out[`${name}.lds`] = at(e.lds, 0.7, '>=')
    out[`${name}.ldsVsCeiling`] = at(e.lds, 0.85 * x.ldsCeiling, '>=', true, 'LDS >= 0.85 x the corrected LDS ceiling')
  }
  out.creditAuc = at(x.creditAuc, 0.95, '>=')
  out.badShare = at(x.badShare, x.noise === 'duplicate' || x.noise === 'paraphrase' ? 0.001 : 0.01, '<=')
  out.valuableRecall = at(x.valuableRecall, 0.9, '>=')
  out.payoutStability = at(x.payoutStability, 0.8, '>=')
  out.cost = at(x.cost, 2, '<=')
  return out
}
