// A training job's checkpoints as files, one per step (ckpt-<step>.safetensors),
// each written atomically: after a kill -9 the folder holds whole checkpoints only, and
// the same job started again resumes from the newest.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CheckpointStore } from '../../compute/train/checkpoint-store.ts'
import { writeFileAtomic } from '../../storage/atomic-file.ts'

const NAME = /^ckpt-(\d{1,12})\.safetensors$/

export class FileCheckpointStore implements CheckpointStore {
  readonly dir: string

  constructor (dir: string) {
    this.dir = dir
  }

  async save (step: number, bytes: Uint8Array): Promise<void> {
    await writeFileAtomic(join(this.dir, `ckpt-${step}.safetensors`), bytes)
  }

  async steps (): Promise<number[]> {
    let names: string[]
    try { names = await readdir(this.dir) } catch { return [] }
    return names.map(n => NAME.exec(n)).filter(m => m != null).map(m => Number(m[1])).sort((a, b) => a - b)
  }

  async load (step: number): Promise<Uint8Array> {
    return new Uint8Array(await readFile(join(this.dir, `ckpt-${step}.safetensors`)))
  }
}
