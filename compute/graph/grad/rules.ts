// The operator -> gradient rule table autodiff consults.

import type { GradRule } from './context.ts'
import { gemmGrad, matmulGrad } from './linear.ts'
import {
  addGrad, castGrad, divGrad, erfGrad, expGrad, identityGrad, logGrad, mulGrad, negGrad, noGrad, powGrad,
  reciprocalGrad, reluGrad, sigmoidGrad, sqrtGrad, subGrad, sumGrad, tanhGrad, whereGrad
} from './elementwise.ts'
import { concatGrad, expandGrad, gatherElementsGrad, gatherGrad, reshapeLikeGrad, sliceGrad, transposeGrad } from './shape.ts'
import { reduceMeanGrad, reduceSumGrad } from './reduce.ts'
import { layerNormGrad, logSoftmaxGrad, softmaxGrad } from './normalize.ts'

export const GRAD_RULES: Readonly<Record<string, GradRule>> = {
  MatMul: matmulGrad,
  Gemm: gemmGrad,
  Add: addGrad,
  Sub: subGrad,
  Mul: mulGrad,
  Div: divGrad,
  Pow: powGrad,
  Sum: sumGrad,
  Neg: negGrad,
  Identity: identityGrad,
  Exp: expGrad,
  Log: logGrad,
  Sqrt: sqrtGrad,
  Reciprocal: reciprocalGrad,
  Tanh: tanhGrad,
  Sigmoid: sigmoidGrad,
  Relu: reluGrad,
  Erf: erfGrad,
  Where: whereGrad,
  Cast: castGrad,
  Transpose: transposeGrad,
  Reshape: reshapeLikeGrad,
  Squeeze: reshapeLikeGrad,
  Unsqueeze: reshapeLikeGrad,
  Expand: expandGrad,
  Concat: concatGrad,
  Slice: sliceGrad,
  Gather: gatherGrad,
  GatherElements: gatherElementsGrad,
  ReduceSum: reduceSumGrad,
  ReduceMean: reduceMeanGrad,
  Softmax: softmaxGrad,
  LogSoftmax: logSoftmaxGrad,
  LayerNormalization: layerNormGrad,
  Shape: noGrad,
  Equal: noGrad,
  Less: noGrad,
  Greater: noGrad,
  ConstantOfShape: noGrad
}
