// Every message type this node version speaks.
import { MessageRegistry } from '../registry.ts'
import { CapacityAdvertMessage } from './capacity-advert.ts'
import { DatanetHeadsMessage } from './datanet-heads.ts'

export { CapacityAdvertMessage, capacityAdvertSchema, type CapacityAdvert } from './capacity-advert.ts'
export { DatanetHeadsMessage, datanetHeadsSchema, type DatanetHeads } from './datanet-heads.ts'

export function defaultRegistry (): MessageRegistry {
  return new MessageRegistry([CapacityAdvertMessage, DatanetHeadsMessage])
}
