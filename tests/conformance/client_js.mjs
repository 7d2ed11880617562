// SPDX-License-Identifier: Apache-2.0
// tests/conformance/client_js.mjs: the AWS SDK for JavaScript v3
// (@aws-sdk/client-kinesis, from this folder's node_modules: setup.sh)
// against SLUICE_CONF_ENDPOINT, SLUICE_CONF_TARGET sluiced (default) or
// kinesalite. The SDK sends every Kinesis call over HTTP/2, and to an
// http:// endpoint that is cleartext HTTP/2 with prior knowledge (h2c):
// this client checks that sluice answers it. A stream is created and waited
// for, written with PutRecord and PutRecords (also many calls at once over
// the same connection), read back with TRIM_HORIZON and AT_SEQUENCE_NUMBER,
// errors arrive as the SDK's modelled exceptions with AWS's messages, and
// the stream is deleted.
//
// kinesalite speaks HTTP/1.1 only (kinesalite#118): there the first call
// fails with ERR_HTTP2_ERROR and the script exits 77 (skip) with that
// reason. SLUICE_CONF_JS_HTTP1=1 swaps in the SDK's HTTP/1.1 handler, to
// debug the scenario itself against kinesalite.
//
// Output: one line per case (ok / FAIL / skip), then
// "N passed, N failed, N skipped". Exit 0, 1 (a failure) or 77 (skip).
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const endpoint = process.env.SLUICE_CONF_ENDPOINT || 'http://127.0.0.1:4567'
const target = process.env.SLUICE_CONF_TARGET || 'sluiced'
const http1 = process.env.SLUICE_CONF_JS_HTTP1 === '1'

// The host's AWS setup takes no part (set before the SDK loads).
const awsDir = mkdtempSync(join(tmpdir(), 'sluice-conf-js-'))
writeFileSync(join(awsDir, 'config'), '')
writeFileSync(join(awsDir, 'credentials'), '')
for (const v of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_KINESIS',
  'AWS_CA_BUNDLE', 'AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_REGION']) delete process.env[v]
Object.assign(process.env, {
  AWS_CONFIG_FILE: join(awsDir, 'config'),
  AWS_SHARED_CREDENTIALS_FILE: join(awsDir, 'credentials'),
  AWS_MAX_ATTEMPTS: '1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  // node 20 is what Debian 12 ships; the SDK's notice about 22 is noise here.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
})
process.on('exit', () => rmSync(awsDir, { recursive: true, force: true }))

const K = await import('@aws-sdk/client-kinesis')
const { NodeHttpHandler, NodeHttp2Handler } = await import('@smithy/node-http-handler')

const kin = new K.KinesisClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIDSLUICECONFORMANCE', secretAccessKey: 'conformance-secret' },
  maxAttempts: 1,
  ...(http1 ? { requestHandler: new NodeHttpHandler({ requestTimeout: 30000 }) } : {}),
})
const call = (Cmd, input) => kin.send(new Cmd(input))

const S = `conf-js-${process.pid}`
const HASH_MAX = 2n ** 128n - 1n
const sid = (i) => `shardId-${String(i).padStart(12, '0')}`
const hashOf = (k) => BigInt('0x' + createHash('md5').update(k).digest('hex'))
const enc = (s) => new TextEncoder().encode(s)
const dec = (b) => new TextDecoder().decode(b)
const st = {}
const counts = { ok: 0, FAIL: 0, skip: 0 }
const failures = []

function done () {
  console.log(`${counts.ok} passed, ${counts.FAIL} failed, ${counts.skip} skipped`)
  if (failures.length) console.log('failed: ' + failures.join('; '))
  process.exit(failures.length ? 1 : 0)
}

async function kase (name, fn, { required = false } = {}) {
  const t0 = Date.now()
  try {
    await fn()
  } catch (e) {
    // What an HTTP/1.1-only server's answer to the h2c preface gives.
    if (e.code === 'ERR_HTTP2_ERROR' && target === 'kinesalite' && !http1) {
      console.log(`skip ${name}: kinesalite speaks HTTP/1.1 only and the SDK uses h2c ` +
        `(kinesalite#118): ${e.code || ''} ${e.message}`)
      console.log('0 passed, 0 failed, 1 skipped')
      process.exit(77)
    }
    console.log(`FAIL ${name}: ${e instanceof assert.AssertionError ? e.message : (e.stack || e)}`)
    counts.FAIL++
    failures.push(name)
    if (required) {
      console.log(`stopping: '${name}' is needed by the cases after it`)
      done()
    }
    return
  }
  console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(2)} s)`)
  counts.ok++
}

async function expectError (fn, name, message) {
  let r
  try {
    r = await fn()
  } catch (e) {
    assert.equal(e.name, name, `error name (message: ${e.message})`)
    assert.ok(e instanceof K[name], `${name} is the SDK's modelled exception class`)
    assert.equal(e.$metadata?.httpStatusCode, 400, `${name}: HTTP status`)
    if (message instanceof RegExp) assert.match(e.message, message)
    else assert.equal(e.message, message, `${name} message`)
    return
  }
  assert.fail(`want ${name}, but the call succeeded: ${JSON.stringify(r).slice(0, 200)}`)
}

const sdkVersion = createRequire(import.meta.url)('@aws-sdk/client-kinesis/package.json').version
console.log(`AWS SDK for JavaScript v3 @aws-sdk/client-kinesis ${sdkVersion}` +
  `, ${http1 ? 'HTTP/1.1 (SLUICE_CONF_JS_HTTP1)' : 'HTTP/2 (h2c)'}; ${target} at ${endpoint}`)

await kase('the SDK talks HTTP/2 to Kinesis (its default handler)', async () => {
  const h = kin.config.requestHandler
  if (!http1) assert.ok(h instanceof NodeHttp2Handler, `handler is ${h?.constructor?.name}`)
})

await kase('CreateStream, waitUntilStreamExists, DescribeStreamSummary', async () => {
  await call(K.CreateStreamCommand, { StreamName: S, ShardCount: 2 })
  const w = await K.waitUntilStreamExists({ client: kin, maxWaitTime: 60, minDelay: 1, maxDelay: 1 },
    { StreamName: S })
  assert.equal(w.state, 'SUCCESS', 'waiter state')
  const d = (await call(K.DescribeStreamSummaryCommand, { StreamName: S })).StreamDescriptionSummary
  assert.equal(d.StreamStatus, 'ACTIVE')
  assert.equal(d.OpenShardCount, 2)
  assert.ok(d.StreamCreationTimestamp instanceof Date, 'StreamCreationTimestamp is a Date')
  st.account = /^arn:aws:kinesis:us-east-1:(\d{12}):stream\//.exec(d.StreamARN)?.[1]
  assert.ok(st.account, `StreamARN ${d.StreamARN}`)
  st.shards = (await call(K.ListShardsCommand, { StreamName: S })).Shards
  assert.deepEqual(st.shards.map(s => s.ShardId), [sid(0), sid(1)])
}, { required: true })

const shardFor = (hk) => st.shards.find(s =>
  BigInt(s.HashKeyRange.StartingHashKey) <= hk && hk <= BigInt(s.HashKeyRange.EndingHashKey)).ShardId

await kase('PutRecord and PutRecords: routed by MD5, results in request order', async () => {
  st.put = new Map()
  const r = await call(K.PutRecordCommand, { StreamName: S, PartitionKey: 'k', Data: enc('hello h2') })
  assert.equal(r.ShardId, sid(1), "md5('k') is in the upper half")
  assert.match(r.SequenceNumber, /^\d{56}$/)
  st.put.set('hello h2', [r.ShardId, r.SequenceNumber])
  const entries = Array.from({ length: 12 }, (_, i) => ({ PartitionKey: `js${i}`, Data: enc(`js-${i}`) }))
  entries[3].ExplicitHashKey = '0'
  entries[4].ExplicitHashKey = HASH_MAX.toString()
  const pr = await call(K.PutRecordsCommand, { StreamName: S, Records: entries })
  assert.equal(pr.FailedRecordCount ?? 0, 0, 'FailedRecordCount')
  assert.equal(pr.Records.length, entries.length)
  entries.forEach((e, i) => {
    const hk = e.ExplicitHashKey ? BigInt(e.ExplicitHashKey) : hashOf(e.PartitionKey)
    assert.equal(pr.Records[i].ShardId, shardFor(hk), `result ${i}`)
    st.put.set(dec(e.Data), [pr.Records[i].ShardId, pr.Records[i].SequenceNumber])
  })
})

await kase('50 PutRecord calls at once', async () => {
  const rs = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    call(K.PutRecordCommand, { StreamName: S, PartitionKey: `c${i}`, Data: enc(`concurrent-${i}`) })))
  rs.forEach((r, i) => {
    assert.equal(r.ShardId, shardFor(hashOf(`c${i}`)), `concurrent ${i}`)
    st.put.set(`concurrent-${i}`, [r.ShardId, r.SequenceNumber])
  })
})

async function readAll (shard, type, extra = {}) {
  let it = (await call(K.GetShardIteratorCommand,
    { StreamName: S, ShardId: shard, ShardIteratorType: type, ...extra })).ShardIterator
  const out = []
  for (let n = 0; n < 20; n++) {
    const r = await call(K.GetRecordsCommand, { ShardIterator: it, Limit: 10000 })
    out.push(...r.Records)
    it = r.NextShardIterator
    if (!it || (r.Records.length === 0 && (r.MillisBehindLatest ?? 0) === 0)) return out
  }
  assert.fail(`${shard}: not caught up after 20 GetRecords`)
}

await kase('GetRecords from TRIM_HORIZON: every record at its number, in order', async () => {
  for (const sh of [sid(0), sid(1)]) {
    const recs = await readAll(sh, 'TRIM_HORIZON')
    const got = new Map(recs.map(x => [dec(x.Data), [sh, x.SequenceNumber]]))
    const want = new Map([...st.put].filter(([, v]) => v[0] === sh))
    assert.deepEqual(got, want, `${sh} records`)
    const seqs = recs.map(x => BigInt(x.SequenceNumber))
    seqs.forEach((s, i) => i && assert.ok(s > seqs[i - 1], `${sh}: numbers increase`))
    recs.forEach(x => assert.ok(x.ApproximateArrivalTimestamp instanceof Date))
    st[sh] = recs
  }
})

await kase('AT_SEQUENCE_NUMBER', async () => {
  const recs = st[sid(1)]
  const got = await readAll(sid(1), 'AT_SEQUENCE_NUMBER', { StartingSequenceNumber: recs[1].SequenceNumber })
  assert.deepEqual(got.map(x => x.SequenceNumber), recs.slice(1).map(x => x.SequenceNumber))
})

await kase('errors: modelled exceptions with AWS messages', async () => {
  await expectError(() => call(K.DescribeStreamSummaryCommand, { StreamName: `${S}-nope` }),
    'ResourceNotFoundException', `Stream ${S}-nope under account ${st.account} not found.`)
  await expectError(() => call(K.GetShardIteratorCommand,
    { StreamName: S, ShardId: sid(99), ShardIteratorType: 'LATEST' }),
  'ResourceNotFoundException', `Shard ${sid(99)} in stream ${S} under account ${st.account} does not exist`)
  await expectError(() => call(K.GetRecordsCommand, { ShardIterator: 'A'.repeat(64) }),
    'InvalidArgumentException', 'Invalid ShardIterator.')
  const key = 'k'.repeat(257)
  await expectError(() => call(K.PutRecordCommand, { StreamName: S, PartitionKey: key, Data: enc('x') }),
    'ValidationException', `1 validation error detected: Value '${key}' at 'partitionKey' failed to ` +
    'satisfy constraint: Member must have length less than or equal to 256')
})

await kase('DeleteStream, waitUntilStreamNotExists', async () => {
  await call(K.DeleteStreamCommand, { StreamName: S })
  const w = await K.waitUntilStreamNotExists({ client: kin, maxWaitTime: 60, minDelay: 1, maxDelay: 1 },
    { StreamName: S })
  assert.equal(w.state, 'SUCCESS', 'waiter state')
})

kin.destroy()
done()
