// Training text from a datanet file's bytes, by its media type: plain text and
// markdown as they are; JSON lines one document per line (its "text" field when it has
// one); JSON its "text" field or the whole; CSV and mail as they are (a classifier
// reads headers too). Bytes that are not UTF-8 are decoded with replacement characters.

import { BadTrainingDataError } from '../errors.ts'

const decoder = new TextDecoder('utf-8')

export function documentsOf (bytes: Uint8Array, mediaType: string): string[] {
  const text = decoder.decode(bytes)
  switch (mediaType) {
    case 'text/plain':
    case 'text/markdown':
    case 'text/csv':
    case 'message/rfc822':
      return text.trim() === '' ? [] : [text]
    case 'application/jsonl':
      return text.split('\n').filter(l => l.trim() !== '').map(textField)
    case 'application/json':
      return [textField(text)]
    default:
      throw new BadTrainingDataError(`cannot train on ${mediaType}`, { mediaType })
  }
}

function textField (json: string): string {
  try {
    const v = JSON.parse(json) as unknown
    if (v !== null && typeof v === 'object' && typeof (v as { text?: unknown }).text === 'string') return (v as { text: string }).text
  } catch {}
  return json
}
