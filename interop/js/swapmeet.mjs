// What a non-Rust peer needs of the swapmeet protocol (docs/PROTOCOL.md), written from the
// document, not from the Rust code: envelope reading and signature checks (section 2), the
// gossipsub message id (10.2), and the sync messages with the minimum of negentropy (10.4).

import { createHash, createPublicKey, verify } from 'node:crypto'

export const GOSSIP_PREFIX = '/swapmeet/listings/1/'
export const KAD_PROTOCOL = '/swapmeet/kad/1.0.0'
export const SYNC_PROTOCOL = '/swapmeet/sync/1'

const KIND_NAMES = { 1: 'listing', 2: 'withdrawal', 3: 'message', 4: 'receipt', 5: 'review', 6: 'wanted' }
// DER SubjectPublicKeyInfo header of an ed25519 key (RFC 8410); the 32 key bytes follow.
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex')

export function sha256 (bytes) {
  return createHash('sha256').update(bytes).digest()
}

/** The gossipsub message id: SHA-256 of the data followed by the topic's area tag. */
export function messageId (msg) {
  const topic = msg.topic.startsWith(GOSSIP_PREFIX) ? msg.topic.slice(GOSSIP_PREFIX.length) : msg.topic
  return new Uint8Array(Buffer.concat([sha256(msg.data), Buffer.from(topic, 'utf8')]))
}

/** Reads a CBOR head (major type and argument) at `at`; returns [major, value, next]. */
function head (b, at) {
  if (at >= b.length) throw new Error('envelope: ends early')
  const major = b[at] >> 5
  const info = b[at] & 31
  if (info < 24) return [major, info, at + 1]
  if (info === 24) return [major, b[at + 1], at + 2]
  if (info === 25) return [major, b.readUInt16BE(at + 1), at + 3]
  if (info === 26) return [major, b.readUInt32BE(at + 1), at + 5]
  throw new Error(`envelope: unsupported CBOR head 0x${b[at].toString(16)}`)
}

function bytesAt (b, at, what) {
  const [major, len, next] = head(b, at)
  if (major !== 2 || next + len > b.length) throw new Error(`envelope: ${what} is not a byte string`)
  return [b.subarray(next, next + len), next + len]
}

/** Splits envelope bytes into [version, kind, signer, payload, signature] (section 2). */
export function readEnvelope (bytes) {
  const b = Buffer.from(bytes)
  let [major, n, at] = head(b, 0)
  if (major !== 4 || n !== 5) throw new Error('envelope: not an array of 5 items')
  let version, kind, signer, payload, signature;
  [, version, at] = head(b, at);
  [, kind, at] = head(b, at);
  [signer, at] = bytesAt(b, at, 'signer');
  [payload, at] = bytesAt(b, at, 'payload');
  [signature, at] = bytesAt(b, at, 'signature')
  if (at !== b.length) throw new Error('envelope: trailing bytes')
  return { version, kind, signer, payload, signature }
}

/** Whether the envelope's ed25519 signature covers "swapmeet/v1/" || kind name || 0x00 || payload. */
export function signatureValid (bytes) {
  const e = readEnvelope(bytes)
  const name = KIND_NAMES[e.kind]
  if (e.version !== 1 || name === undefined || e.signer.length !== 32 || e.signature.length !== 64) return false
  const message = Buffer.concat([Buffer.from(`swapmeet/v1/${name}`), Buffer.from([0]), e.payload])
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI, e.signer]), format: 'der', type: 'spki' })
  return verify(null, message, key, e.signature)
}

// Negentropy (protocol version 0x61) varints: base 128, most significant group first, the high
// bit set on every byte but the last.
function varint (b, at) {
  let v = 0
  for (;;) {
    if (at >= b.length) throw new Error('negentropy: varint ends early')
    const byte = b[at++]
    v = v * 128 + (byte & 0x7f)
    if (v > Number.MAX_SAFE_INTEGER) throw new Error('negentropy: varint too large')
    if ((byte & 0x80) === 0) return [v, at]
  }
}

/**
 * The first negentropy message of an initiator whose set is empty: one range up to infinity
 * (timestamp 0 = infinity, an empty id prefix) in IdList mode (2) with no ids. A responder
 * answers it with the ids of every item it holds (in IdList ranges), or fingerprints of what
 * did not fit in its frame.
 */
export const EMPTY_SET_INITIATE = Buffer.from([0x61, 0x00, 0x00, 0x02, 0x00])

/** Reads a responder's reply: the ids it listed, and whether it left ranges as fingerprints. */
export function readNegentropyReply (bytes) {
  const b = Buffer.from(bytes)
  if (b[0] !== 0x61) throw new Error(`negentropy: protocol version 0x${(b[0] ?? 0).toString(16)}, expected 0x61`)
  let at = 1
  const ids = []
  let fingerprints = 0
  while (at < b.length) {
    let ts, prefix, mode;
    [ts, at] = varint(b, at); // timestamp of the bound (unused: the set is read whole)
    [prefix, at] = varint(b, at)
    at += prefix;
    [mode, at] = varint(b, at)
    if (mode === 0) continue
    if (mode === 1) { at += 16; fingerprints++; continue }
    if (mode !== 2) throw new Error(`negentropy: unknown mode ${mode}`)
    let n;
    [n, at] = varint(b, at)
    for (let i = 0; i < n; i++) {
      if (at + 32 > b.length) throw new Error('negentropy: id list ends early')
      ids.push(b.subarray(at, at + 32).toString('hex'))
      at += 32
    }
    void ts
  }
  return { ids, fingerprints }
}

/** A sync Reconcile request: version 1, tag 1, the areas, then the negentropy message. */
export function reconcileRequest (areas, message) {
  const parts = [Buffer.from([1, 1, areas.length])]
  for (const a of areas) parts.push(Buffer.from([Buffer.byteLength(a)]), Buffer.from(a))
  parts.push(message)
  return Buffer.concat(parts)
}

/** A sync Fetch request: version 1, tag 2, 32-byte envelope hashes. */
export function fetchRequest (hashes) {
  return Buffer.concat([Buffer.from([1, 2]), ...hashes])
}

/** Reads a sync response into { reconcile } , { envelopes } or { refused }. */
export function readSyncResponse (bytes) {
  const b = Buffer.from(bytes)
  if (b[0] !== 1) throw new Error(`sync: wire version ${b[0]}, expected 1`)
  const tag = b[1]
  if (tag === 1) return { reconcile: b.subarray(2) }
  if (tag === 4) return { refused: b.subarray(2).toString('utf8') }
  if (tag !== 3) throw new Error(`sync: unknown response tag ${tag}`)
  const count = b.readUInt32BE(2)
  let at = 6
  const envelopes = []
  for (let i = 0; i < count; i++) {
    const len = b.readUInt32BE(at)
    envelopes.push(b.subarray(at + 4, at + 4 + len))
    at += 4 + len
  }
  return { envelopes }
}
