// Every message type this node version speaks.
import { MessageRegistry } from '../registry.ts'
import { CapacityAdvertMessage } from './capacity-advert.ts'
import { DatanetHeadsMessage } from './datanet-heads.ts'
import { JOB_MESSAGES } from './jobs.ts'

export { CapacityAdvertMessage, capacityAdvertSchema, type CapacityAdvert } from './capacity-advert.ts'
export { DatanetHeadsMessage, datanetHeadsSchema, type DatanetHeads } from './datanet-heads.ts'
export { DEVICE_NAMES, bidDeviceSchema, deviceNeedsSchema, type BidDevice, type DeviceNeeds } from './device.ts'
export {
  JobAnnounceMessage, JobBidMessage, JobAssignMessage, JobResultMessage, JobVerdictMessage, JobRevealMessage, JobProgressMessage, DisputeQueryMessage, DisputeClaimMessage, JobRulingMessage, JOB_MESSAGES,
  jobAnnounceSchema, jobBidSchema, jobAssignSchema, jobResultSchema, jobVerdictSchema,
  type JobAnnounce, type JobBid, type JobAssign, type JobResult, type JobVerdict, type JobReveal, type JobProgress, type DisputeQuery, type DisputeClaim, type JobRuling
} from './jobs.ts'

export function defaultRegistry (): MessageRegistry {
  return new MessageRegistry([CapacityAdvertMessage, DatanetHeadsMessage, ...JOB_MESSAGES])
}
