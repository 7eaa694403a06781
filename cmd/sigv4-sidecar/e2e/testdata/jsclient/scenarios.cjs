// The AWS SDK for JavaScript v3 as an app uses it, for the end-to-end suite
// (clients_js_test.go). Pointed at the proxy it signs nothing (a no-op
// signer: the proxy signs); pointed straight at a server it signs with the
// server's keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as the
// control. It runs the scenarios named on the command line in order and
// prints one JSON line for each: {"scenario": NAME, "error": MESSAGE or ""}.
//
// Environment: E2E_ENDPOINT, E2E_SIGN ("none" or "keys"), E2E_BUCKET,
// E2E_KEYS (a JSON array of object keys), E2E_WORK (a scratch directory),
// E2E_MULTIPART_MIB (the multipart upload's size), E2E_TABS ("1" to put TABs
// in Content-Disposition).
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const assert = require("node:assert/strict");
const {
  S3Client, CreateBucketCommand, HeadBucketCommand, ListBucketsCommand, DeleteBucketCommand,
  PutObjectCommand, HeadObjectCommand, GetObjectCommand, ListObjectsV2Command, DeleteObjectsCommand,
  DeleteObjectCommand, CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand,
} = require("@aws-sdk/client-s3");

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const bucket = env("E2E_BUCKET");
const keys = JSON.parse(env("E2E_KEYS"));
const work = env("E2E_WORK");
const sign = env("E2E_SIGN");

// sent records, per request, the headers the SDK put on the wire, for the
// stream scenario to prove it sent the aws-chunked form.
const sent = [];
const client = new S3Client({
  endpoint: env("E2E_ENDPOINT"),
  region: "us-east-1",
  forcePathStyle: true,
  maxAttempts: 1,
  credentials: sign === "keys"
    ? { accessKeyId: env("AWS_ACCESS_KEY_ID"), secretAccessKey: env("AWS_SECRET_ACCESS_KEY") }
    : { accessKeyId: "unused", secretAccessKey: "unused" },
  ...(sign === "none" ? { signer: { sign: async (request) => request } } : {}),
});
client.middlewareStack.add(
  (next) => async (args) => {
    sent.push({ ...args.request.headers });
    return next(args);
  },
  { step: "finalizeRequest", priority: "low", name: "e2eRecordHeaders" },
);

const bodyOf = async (out) => Buffer.from(await out.Body.transformToByteArray());
const contentOf = (key) => Buffer.from(`content of ${key}\n`);

const scenarios = {
  async bucket() {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    const out = await client.send(new ListBucketsCommand({}));
    assert.ok((out.Buckets || []).some((b) => b.Name === bucket), `ListBuckets does not list ${bucket}`);
  },

  // Every odd key stored, read back, listed, then deleted in one DeleteObjects.
  async "odd-keys"() {
    for (const key of keys) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: contentOf(key), ContentType: "text/plain" }));
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(head.ContentLength, contentOf(key).length, `HeadObject ${JSON.stringify(key)}: ContentLength`);
      const got = await bodyOf(await client.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
      assert.deepEqual(got.toString(), contentOf(key).toString(), `GetObject ${JSON.stringify(key)}`);
    }
    const listed = await listKeys("");
    assert.deepEqual(listed, [...keys].sort(), "ListObjectsV2");
    const del = await client.send(new DeleteObjectsCommand({
      Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) },
    }));
    assert.deepEqual(del.Errors || [], [], "DeleteObjects errors");
    assert.deepEqual((del.Deleted || []).map((d) => d.Key).sort(), [...keys].sort(), "DeleteObjects deleted");
    assert.deepEqual(await listKeys(""), [], "ListObjectsV2 after DeleteObjects");
  },

  // User metadata and content headers, TABs in Content-Disposition (unless
  // E2E_TABS is 0: a server that cannot verify them), read back equal. No
  // TAB in metadata: x-amz-* headers must be signed and verifiers read TABs
  // apart, so the proxy refuses one.
  async metadata() {
    const key = "meta/headers.txt";
    const tab = env("E2E_TABS") === "1" ? "\t" : " ";
    const put = {
      Metadata: { "my-key": "v", "spaced": "two  spaces" },
      ContentType: "text/plain; charset=utf-8",
      ContentDisposition: `attachment;${tab}filename="a${tab}b.txt"`,
      ContentLanguage: "en-GB",
      CacheControl: "max-age=60, private",
    };
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "metadata\n", ...put }));
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    assert.deepEqual(head.Metadata, put.Metadata, "HeadObject Metadata");
    for (const name of ["ContentType", "ContentDisposition", "ContentLanguage", "CacheControl"]) {
      assert.equal(head[name], put[name], `HeadObject ${name}`);
    }
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  },

  // A stream body with the SDK's default checksum: aws-chunked with an
  // unsigned CRC32 trailer.
  async stream() {
    const key = "stream/body.bin";
    const file = path.join(work, "stream.bin");
    const data = crypto.randomBytes((1 << 20) + 2500);
    fs.writeFileSync(file, data);
    sent.length = 0;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: fs.createReadStream(file) }));
    const h = sent[0] || {};
    assert.equal(h["x-amz-content-sha256"], "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "the SDK did not send the aws-chunked form");
    assert.equal(h["x-amz-decoded-content-length"], String(data.length), "x-amz-decoded-content-length sent");
    const got = await bodyOf(await client.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
    assert.equal(got.length, data.length, "GetObject length of the streamed object");
    assert.ok(got.equals(data), "GetObject content of the streamed object differs from what was streamed");
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  },

  async multipart() {
    const key = "multipart/big.bin";
    const total = Number(env("E2E_MULTIPART_MIB")) << 20;
    const partSize = 16 << 20;
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const whole = crypto.createHash("sha256");
    const parts = [];
    for (let off = 0, n = 1; off < total; off += partSize, n++) {
      const part = crypto.randomBytes(Math.min(partSize, total - off));
      whole.update(part);
      const out = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: part }));
      parts.push({ PartNumber: n, ETag: out.ETag });
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const got = crypto.createHash("sha256");
    let n = 0;
    for await (const chunk of out.Body) {
      got.update(chunk);
      n += chunk.length;
    }
    assert.equal(n, total, "GetObject length of the multipart object");
    assert.equal(got.digest("hex"), whole.digest("hex"), "GetObject sha256 of the multipart object");
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  },

  async "delete-bucket"() {
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  },
};

async function listKeys(prefix) {
  const out = [];
  let ContinuationToken;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken, MaxKeys: 4 }));
    out.push(...(page.Contents || []).map((c) => c.Key));
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
  return out.sort();
}

(async () => {
  for (const name of process.argv.slice(2)) {
    let error = "";
    try {
      if (!scenarios[name]) throw new Error(`no scenario ${name}`);
      await scenarios[name]();
    } catch (e) {
      const status = e.$metadata && e.$metadata.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : "";
      error = `${e.name}: ${e.message}${status}`;
    }
    process.stdout.write(JSON.stringify({ scenario: name, error }) + "\n");
  }
})();
