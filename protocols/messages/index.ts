// Every message type this node version speaks.
import { MessageRegistry } from '../registry.ts'
import { CapacityAdvertMessage } from './capacity-advert.ts'

export { CapacityAdvertMessage, capacityAdvertSchema, type CapacityAdvert } from './capacity-advert.ts'

export function defaultRegistry (): MessageRegistry {
  return new MessageRegistry([CapacityAdvertMessage])
}
