// The node's software version, as it appears in adverts and identify.
import { createRequire } from 'node:module'

const pkg = createRequire(import.meta.url)('../package.json') as { version: string }

export const VERSION: string = pkg.version
export const AGENT = `openledger/${VERSION}`
