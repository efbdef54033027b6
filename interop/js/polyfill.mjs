// Node.js 20 lacks Promise.withResolvers (Node 22 has it), which it-queue (through mortice)
// calls; js-libp2p 2.10 runs on Node 20 with this loaded before it.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
