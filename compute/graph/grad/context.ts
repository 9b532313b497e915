// What a gradient rule sees: the forward node, the graph to append backward nodes to,
// the incoming gradient of each output, and which inputs need a gradient.

import type { Graph, Node } from '../graph.ts'

export interface GradContext {
  g: Graph
  node: Node
  /** dLoss/dOutput for each output of the node; undefined where no gradient flows. */
  dy: (string | undefined)[]
  /** needs[i]: input i leads to a parameter, so its gradient is wanted. */
  needs: boolean[]
}

/** Returns dLoss/dInput per input (undefined where not needed or not defined). */
export type GradRule = (ctx: GradContext) => (string | undefined)[]
