// The shape both corpus readers hand out: contributors, each holding the items they
// would pin to a datanet. Plain data, ready to be imported as files.

export interface CorpusItem {
  /** Stable and unique within the corpus; a relative path (may contain "/"). */
  name: string
  text: string
  mediaType: 'message/rfc822' | 'text/plain'
}

export interface Contributor<I extends CorpusItem = CorpusItem> {
  /** Stable slug, the same on every call and machine. */
  id: string
  label: string
  items: I[]
}
