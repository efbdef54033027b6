// A js-libp2p peer against a running swapmeet node, configured only from docs/PROTOCOL.md:
// it connects over TCP + noise + yamux, receives a listing by gossipsub, reads its DHT record
// over /swapmeet/kad/1.0.0, reconciles over /swapmeet/sync/1 and fetches the listing, then
// publishes three malformed messages the node must reject.
//
//   node peer.mjs --addr <node multiaddr with /p2p/> --listing <listing id> --area <cell>
//                 --wrong-area <another cell the node follows> [--timeout-secs 60]
//
// It prints one JSON report line on stdout, then stays connected until its stdin closes (so the
// caller can look at the node's side while the connection lives), then exits. It never hangs:
// at the timeout it prints the report so far with an `error` and exits 2.

import './polyfill.mjs'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'
import {
  EMPTY_SET_INITIATE, GOSSIP_PREFIX, KAD_PROTOCOL, SYNC_PROTOCOL, fetchRequest, messageId,
  readEnvelope, readNegentropyReply, readSyncResponse, reconcileRequest, sha256, signatureValid
} from './swapmeet.mjs'

function args () {
  const out = { timeoutSecs: 60 }
  const a = process.argv.slice(2)
  for (let i = 0; i < a.length; i += 2) {
    const [k, v] = [a[i], a[i + 1]]
    if (v === undefined) usage(`${k} needs a value`)
    if (k === '--addr') out.addr = v
    else if (k === '--listing') out.listing = v
    else if (k === '--area') out.area = v
    else if (k === '--wrong-area') out.wrongArea = v
    else if (k === '--timeout-secs') out.timeoutSecs = Number(v)
    else usage(`unknown argument ${k}`)
  }
  for (const k of ['addr', 'listing', 'area', 'wrongArea']) if (out[k] === undefined) usage(`--${k} is required`)
  return out
}

function usage (why) {
  process.stderr.write(`peer.mjs: ${why}\nusage: node peer.mjs --addr MULTIADDR --listing ID --area CELL --wrong-area CELL [--timeout-secs N]\n`)
  process.exit(64)
}

const report = { connected: false }
let printed = false
function print () {
  if (printed) return
  printed = true
  process.stdout.write(JSON.stringify(report) + '\n')
}

const opts = args()
const overall = setTimeout(() => {
  report.error = `timed out after ${opts.timeoutSecs} s (at step: ${report.step ?? 'start'})`
  print()
  process.exit(2)
}, opts.timeoutSecs * 1000)

function waitFor (what, check) {
  return new Promise((resolve) => {
    const tick = () => {
      report.step = what
      const v = check()
      if (v) resolve(v)
      else setTimeout(tick, 50)
    }
    tick()
  })
}

async function request (node, peer, bytes) {
  const stream = await node.dialProtocol(peer, SYNC_PROTOCOL)
  // One message per stream; the sink closes our side when it ends, the node answers and closes.
  await stream.sink([bytes])
  const chunks = []
  for await (const c of stream.source) chunks.push(c.subarray())
  await stream.close()
  return readSyncResponse(Buffer.concat(chunks))
}

async function main () {
  const topic = (area) => GOSSIP_PREFIX + area
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign',
        msgIdFn: messageId,
        emitSelf: false
      }),
      dht: kadDHT({
        protocol: KAD_PROTOCOL,
        clientMode: false,
        // 127.0.0.1 is the node's address here; the default mapper drops private addresses.
        peerInfoMapper: passthroughMapper,
        validators: {
          listing: async (key, value) => {
            if (!signatureValid(value)) throw new Error('listing record: signature does not verify')
          }
        },
        selectors: { listing: () => 0 }
      })
    }
  })
  const pubsub = node.services.pubsub
  const got = []
  pubsub.addEventListener('message', (evt) => {
    got.push({ topic: evt.detail.topic, data: Buffer.from(evt.detail.data) })
  })
  // Subscribed before dialling, so the node sees our topics with the connection.
  for (const a of [opts.area, 'all']) pubsub.subscribe(topic(a))

  const addr = multiaddr(opts.addr)
  const conn = await node.dial(addr)
  const peer = conn.remotePeer
  report.connected = true
  report.peer_id = node.peerId.toString()
  report.node_peer_id = peer.toString()
  report.transport = { encryption: conn.encryption, multiplexer: conn.multiplexer }

  // 1. The listing by gossip.
  const first = await waitFor('a listing by gossip', () => got[0])
  const listing = first.data
  report.gossip = {
    topics: [...new Set(got.map((g) => g.topic))],
    envelope_hex: listing.toString('hex'),
    kind: readEnvelope(listing).kind,
    signature_valid: signatureValid(listing)
  }

  // 2. Its DHT record, from the node. The query needs the node in our routing table, which
  // identify puts it in (it may not have yet): asked again until the node answers.
  const key = new TextEncoder().encode(`/listing/${opts.listing}`)
  const dht = { from_node: false, queries: 0 }
  while (!dht.from_node) {
    report.step = 'the DHT record'
    dht.queries++
    try {
      for await (const ev of node.services.dht.get(key)) {
        if (ev.name === 'VALUE' && ev.from.equals(peer)) {
          dht.from_node = true
          dht.equal_to_gossip = Buffer.from(ev.value).equals(listing)
          break
        }
        if (ev.name === 'QUERY_ERROR') dht.last_error = String(ev.error?.message ?? ev.error)
      }
    } catch (e) {
      // No peer in the routing table yet: the query fails at once.
      dht.last_error = String(e?.message ?? e)
    }
    if (!dht.from_node) await new Promise((resolve) => setTimeout(resolve, 200))
  }
  report.dht = dht

  // 3. Sync: reconcile our (empty) set of the area against the node's, then fetch the listing.
  report.step = 'sync'
  const hash = sha256(listing)
  const rec = await request(node, peer, reconcileRequest([opts.area], EMPTY_SET_INITIATE))
  if (rec.reconcile === undefined) throw new Error(`sync reconcile answered ${JSON.stringify(rec)}`)
  const reply = readNegentropyReply(rec.reconcile)
  const fetched = await request(node, peer, fetchRequest([hash]))
  report.sync = {
    ids: reply.ids,
    fingerprints_left: reply.fingerprints,
    has_listing: reply.ids.includes(hash.toString('hex')),
    fetched_equal: (fetched.envelopes ?? []).length === 1 && fetched.envelopes[0].equals(listing)
  }

  // 4. Three malformed messages, once the node is subscribed to both topics.
  const nodeOn = (t) => pubsub.getSubscribers(t).some((p) => p.equals(peer))
  await waitFor('the node subscribed to both topics', () => nodeOn(topic(opts.area)) && nodeOn(topic(opts.wrongArea)))
  const forged = Buffer.from(listing)
  forged[forged.length - 1] ^= 0x01 // the signature's last byte
  const malformed = [
    { what: 'decode', area: opts.area, data: Buffer.from('this is not a swapmeet envelope') },
    { what: 'signature', area: opts.area, data: forged },
    { what: 'wrong_topic', area: opts.wrongArea, data: listing }
  ]
  report.published = []
  for (const m of malformed) {
    report.step = `publishing the ${m.what} message`
    const r = await pubsub.publish(topic(m.area), m.data)
    report.published.push({ what: m.what, topic: topic(m.area), recipients: r.recipients.length })
  }
  delete report.step
  print()

  // Stay connected until the caller closes our stdin.
  await new Promise((resolve) => {
    process.stdin.on('end', resolve)
    process.stdin.on('close', resolve)
    process.stdin.resume()
  })
  clearTimeout(overall)
  await node.stop()
}

main().then(() => process.exit(0), (e) => {
  report.error = String(e?.stack ?? e)
  print()
  process.exit(1)
})
