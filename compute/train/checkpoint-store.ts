// Where a training run keeps its checkpoints. The trainer only needs these three calls;
// a peer keeps them in files written atomically (peer/), tests and the simulator in
// memory. `save` must not return before a crash can no longer lose the checkpoint.

export interface CheckpointStore {
  save: (step: number, bytes: Uint8Array) => Promise<void>
  /** Steps of the checkpoints held, ascending. */
  steps: () => Promise<number[]>
  load: (step: number) => Promise<Uint8Array>
}

export class MemoryCheckpointStore implements CheckpointStore {
  readonly saved = new Map<number, Uint8Array>()

  async save (step: number, bytes: Uint8Array): Promise<void> {
    this.saved.set(step, Uint8Array.from(bytes))
  }

  async steps (): Promise<number[]> {
    return [...this.saved.keys()].sort((a, b) => a - b)
  }

  async load (step: number): Promise<Uint8Array> {
    const bytes = this.saved.get(step)
    if (bytes === undefined) throw new RangeError(`no checkpoint at step ${step}`)
    return bytes
  }
}
