#!/usr/bin/env node
// tests/conformance/kinesalite.js: runs kinesalite (the reference emulator,
// from this folder's node_modules) on HOST:PORT only, where its own cli.js
// listens on every address. Same options as kinesalite's cli.js plus --host.
//   node kinesalite.js --host 127.0.0.1 --port 4567 --createStreamMs 50
// Prints "Listening at http://HOST:PORT" when ready; SIGTERM/SIGINT stop it.
'use strict'
const argv = require('minimist')(process.argv.slice(2))
const host = argv.host || '127.0.0.1'
const port = argv.port || 4567
const server = require('kinesalite')(argv).listen(port, host, () => {
  const a = server.address()
  console.log('Listening at http://%s:%s', a.address, a.port)
})
server.on('error', (e) => {
  console.error('kinesalite: %s', e.message)
  process.exit(1)
})
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
