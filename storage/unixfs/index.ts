// Kubo-compatible UnixFS files on any interface-blockstore: import (as `ipfs add` would),
// stream back out, and verify block by block.
export { importFile, importPath, KUBO_CHUNK_SIZE, KUBO_MAX_LINKS } from './import.ts'
export type { ImportOptions, ImportResult, ImportSource, WritableBlockstore } from './import.ts'
export { readFile, readFileBytes, verifyDag, MAX_DAG_DEPTH } from './read.ts'
export type { ReadableBlockstore, ReadOptions, VerifyResult } from './read.ts'
export { BlockHashMismatchError, FileTooLargeError, MalformedDagError, MissingBlockError, NotAFileError, UnsupportedCidError } from './errors.ts'
