#!/usr/bin/env node
/*
 * A Cosmos DB SQL-API server for Crossdesk's tests: @vercel/cosmosdb-server 1.0.1 over plain
 * HTTP on 127.0.0.1, with its handlers wrapped to fix the four bugs the Python SDK hits
 * (docs: /work/shared/docs/platform-notes.md, "Cosmos DB without Docker"):
 *
 *   read-404         reading a missing item answers 500 (the SDK then retries for ~5 s), not 404
 *   partition-query  queries ignore the partition-key header and return other partitions' items
 *   batch-partition  batch operations other than create answer 500: the server wants a partition
 *                    key per operation, the Python SDK sends it only in the request header
 *   batch-rollback   a batch with a failing operation keeps the operations before it
 *
 * Each fix can be turned off (`--without read-404`, repeatable; `--stock` turns off all four) so
 * a test can show that it matters. Beyond the stock server it also
 *
 *   - checks the master-key signature of every request (`--key`, default: the emulator's
 *     well-known key; `--any-key` accepts anything, like the stock server) and answers 401;
 *   - serves a small control API under /_crossdesk/ (no auth): request counts per database
 *     (`GET /_crossdesk/stats`, `POST /_crossdesk/stats/reset`), the transactional batches it
 *     ran (`GET /_crossdesk/batches`) and throttling on demand (`POST /_crossdesk/throttle`
 *     with {"count": n, "retryAfterMs": ms}: the next n requests answer 429).
 *
 * Usage: node tests/support/cosmos_server.js [--port N] [--without FIX]... [--stock]
 *        [--key BASE64 | --any-key]
 * Prints one JSON line, {"url": "http://127.0.0.1:PORT"}, once listening; exits when its stdin
 * closes (so it never outlives the test run that started it) or on SIGTERM.
 */
"use strict";

const crypto = require("crypto");
const path = require("path");

const LIB = path.dirname(require.resolve("@vercel/cosmosdb-server/package.json")) + "/lib";
const EMULATOR_KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const FIXES = ["read-404", "partition-query", "batch-partition", "batch-rollback"];

function parseArgs(argv) {
  const args = { port: 0, fixes: new Set(FIXES), key: EMULATOR_KEY };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    if (flag === "--port") {
      args.port = parseInt(argv[(i += 1)], 10);
    } else if (flag === "--without") {
      const fix = argv[(i += 1)];
      if (!FIXES.includes(fix)) {
        throw new Error(`unknown fix ${fix}; known: ${FIXES.join(", ")}`);
      }
      args.fixes.delete(fix);
    } else if (flag === "--stock") {
      args.fixes.clear();
    } else if (flag === "--key") {
      args.key = argv[(i += 1)];
    } else if (flag === "--any-key") {
      args.key = null;
    } else {
      throw new Error(`unknown flag ${flag}`);
    }
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const handlerModule = name => require(`${LIB}/handler/${name}`);
const readItems = handlerModule("_read-items").default;
const documentOperations = handlerModule("_document-operations");
const readJson = require(`${LIB}/json`).default;
const trueHeader = require(`${LIB}/true-header`).default;
const getPartitionFromHeader = require(`${LIB}/utils/get-partition-from-header`).default;
const { parsePartitionKey } = require(`${LIB}/utils/get-partition-from-header`);
const { SyntaxError: QuerySyntaxError } = require(require.resolve("@zeit/cosmosdb-query", {
  paths: [LIB]
}));

/** The partition-key value a request names in its header, or undefined for none. */
function headerPartition(req) {
  const header = getPartitionFromHeader(req);
  if (!header || header === "[{}]" || header === "[]") {
    return undefined;
  }
  return parsePartitionKey(header, undefined);
}

// Fix 1: a missing item is a 404, as on real Cosmos DB (the stock handler dereferences the
// missing document and throws, which the server turns into a 500).
const readDocument = handlerModule("read-document");
const stockReadDocument = readDocument.default;
if (args.fixes.has("read-404")) {
  readDocument.default = (account, req, res, params) => {
    const collection = account.database(params.dbId).collection(params.collId);
    const header = getPartitionFromHeader(req);
    if (collection.read() && header) {
      const partition = parsePartitionKey(header, params.docId);
      if (!collection.document(params.docId, partition).read()) {
        res.statusCode = 404;
        return {
          code: "NotFound",
          message: "Entity with the specified id does not exist in the system."
        };
      }
    }
    return stockReadDocument(account, req, res, params);
  };
}

// Fix 2: a query with a partition-key header sees only that logical partition.
const queryDocuments = handlerModule("query-documents");
const stockQueryDocuments = queryDocuments.default;
if (args.fixes.has("partition-query")) {
  queryDocuments.default = async (account, req, res, params) => {
    const partition = headerPartition(req);
    if (partition === undefined) {
      return stockQueryDocuments(account, req, res, params);
    }
    return readItems(req, res, "Documents", async ({ continuation, maxItemCount }) => {
      const body = await readJson(req);
      if (!body.query) {
        res.statusCode = 400;
        return { message: "missing query" };
      }
      const collection = account.database(params.dbId).collection(params.collId);
      const definition = collection.read();
      if (!definition) {
        return null;
      }
      const items = collection.documents;
      const inPartition = [...items._data.values()]
        .map(item => item.read())
        .filter(doc => items._getPartition(doc) === partition);
      try {
        return items._getQuery(body.query).exec(inPartition, {
          parameters: body.parameters,
          udf: items._userDefinedFunctions(),
          maxItemCount,
          continuation,
          compositeIndexes: (definition.indexingPolicy || {}).compositeIndexes || []
        });
      } catch (err) {
        if (err instanceof QuerySyntaxError) {
          throw err; // answered 400 by the stock helper
        }
        res.statusCode = 400;
        return { message: err.message };
      }
    });
  };
}

// Fixes 3 and 4: the transactional batch handler, rewritten from the stock one so that each
// operation gets the header's partition key and a failing batch leaves nothing behind.
const batchDocuments = handlerModule("batch-documents");
const batchLog = [];
batchDocuments.default = async (account, req, res, { dbId, collId }) => {
  const body = await readJson(req);
  const continueOnError = trueHeader(req, "x-ms-cosmos-batch-continue-on-error");
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) {
    res.statusCode = 404;
    return {};
  }
  if (!Array.isArray(body)) {
    res.statusCode = 400;
    return { message: "Invalid request body" };
  }
  const header = getPartitionFromHeader(req);
  const documents = collection.documents;
  // Nothing awaits from here on, so no other request can interleave with the snapshot.
  const snapshot = {
    data: new Map(documents._data),
    index: new Map(documents._index),
    ridCount: documents._ridCount
  };
  const operations = {
    Create: documentOperations.createOperation,
    Upsert: documentOperations.upsertOperation,
    Read: documentOperations.readOperation,
    Delete: documentOperations.deleteOperation,
    Replace: documentOperations.replaceOperation
  };
  const results = [];
  let failedAt = -1;
  for (let i = 0; i < body.length; i += 1) {
    const input = body[i] || {};
    if (failedAt >= 0 && !continueOnError) {
      results.push({ statusCode: 424, requestCharge: 0 });
      continue;
    }
    const run = operations[input.operationType];
    if (!run) {
      res.statusCode = 400;
      return { message: `Operation type '${input.operationType}' is not supported in Batch.` };
    }
    const operation =
      args.fixes.has("batch-partition") && input.partitionKey === undefined && header
        ? { ...input, partitionKey: header }
        : input;
    let result;
    try {
      result = run(collection, operation);
    } catch (err) {
      // What the stock server does with an operation that throws: the whole request is a 500.
      if (args.fixes.has("batch-rollback")) {
        Object.assign(documents, {
          _data: snapshot.data,
          _index: snapshot.index,
          _ridCount: snapshot.ridCount
        });
      }
      throw err;
    }
    if (result.statusCode >= 400) {
      failedAt = i;
      results.push({ statusCode: result.statusCode, requestCharge: 0 });
    } else {
      results.push({
        statusCode: result.statusCode,
        requestCharge: 1,
        eTag: result.body ? result.body._etag : undefined,
        resourceBody: result.body
      });
    }
  }
  const failed = failedAt >= 0;
  if (failed && args.fixes.has("batch-rollback")) {
    Object.assign(documents, {
      _data: snapshot.data,
      _index: snapshot.index,
      _ridCount: snapshot.ridCount
    });
    // Real Cosmos DB reports the failing operation and 424 (failed dependency) for the rest.
    for (let i = 0; i < results.length; i += 1) {
      if (i !== failedAt) {
        results[i] = { statusCode: 424, requestCharge: 0 };
      }
    }
    res.statusCode = 207;
  }
  batchLog.push({
    database: dbId,
    container: collId,
    partitionKey: header ? JSON.parse(header) : null,
    operations: body.map(op => ({
      operationType: op.operationType,
      id: op.id || (op.resourceBody || {}).id
    })),
    statusCodes: results.map(r => r.statusCode)
  });
  return results;
};

// Only now load the server: its routing table reads the handlers' exports when it is built.
const { createHttpServer } = require(LIB);

/** The resource type and link a request signs, as the SDKs compute them. */
function signedResource(pathname) {
  const parts = pathname
    .split("/")
    .filter(Boolean)
    .map(decodeURIComponent);
  if (parts.length % 2 === 1) {
    return { type: parts[parts.length - 1], link: parts.slice(0, -1).join("/") };
  }
  return { type: parts.length ? parts[parts.length - 2] : "", link: parts.join("/") };
}

function signatureValid(req, key) {
  const header = decodeURIComponent(req.headers.authorization || "");
  const fields = new Map(
    header.split("&").map(pair => {
      const at = pair.indexOf("=");
      return [pair.slice(0, at), pair.slice(at + 1)];
    })
  );
  if (fields.get("type") !== "master" || !fields.get("sig")) {
    return false;
  }
  const { pathname } = new URL(req.url, "http://localhost");
  const { type, link } = signedResource(pathname.replace(/\/+$/, "") || "/");
  const text =
    `${req.method.toLowerCase()}\n${type.toLowerCase()}\n${link}\n` +
    `${(req.headers["x-ms-date"] || "").toLowerCase()}\n` +
    `${(req.headers.date || "").toLowerCase()}\n`;
  const expected = crypto
    .createHmac("sha256", Buffer.from(key, "base64"))
    .update(text, "utf8")
    .digest();
  const given = Buffer.from(fields.get("sig"), "base64");
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

const stats = { total: 0, byDatabase: {} };
let throttle = { count: 0, retryAfterMs: 0 };

function requestKind(req, pathname) {
  if (trueHeader(req, "x-ms-cosmos-is-batch-request")) return "batch";
  if (trueHeader(req, "x-ms-documentdb-isquery")) return "query";
  const method = req.method.toLowerCase();
  if (/\/docs\/[^/]+$/.test(pathname)) return `${method}-item`;
  if (/\/docs$/.test(pathname)) return `${method}-items`;
  return `${method}-metadata`;
}

function count(req) {
  const pathname = new URL(req.url, "http://localhost").pathname
    .replace(/\/+/g, "/")
    .replace(/(.)\/$/, "$1");
  const match = /^\/dbs\/([^/]+)/.exec(pathname);
  const database = match ? decodeURIComponent(match[1]) : "";
  const kind = requestKind(req, pathname);
  stats.total += 1;
  const perDatabase = (stats.byDatabase[database] = stats.byDatabase[database] || { total: 0 });
  perDatabase.total += 1;
  perDatabase[kind] = (perDatabase[kind] || 0) + 1;
}

function answer(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

async function control(req, res, pathname) {
  if (req.method === "GET" && pathname === "/_crossdesk/stats") {
    return answer(res, 200, stats);
  }
  if (req.method === "POST" && pathname === "/_crossdesk/stats/reset") {
    stats.total = 0;
    stats.byDatabase = {};
    batchLog.length = 0;
    return answer(res, 200, stats);
  }
  if (req.method === "GET" && pathname === "/_crossdesk/batches") {
    return answer(res, 200, batchLog);
  }
  if (req.method === "POST" && pathname === "/_crossdesk/throttle") {
    const body = await readJson(req);
    throttle = { count: body.count || 0, retryAfterMs: body.retryAfterMs || 0 };
    return answer(res, 200, throttle);
  }
  return answer(res, 404, { message: `no control route ${req.method} ${pathname}` });
}

const server = createHttpServer({ keepAlive: true });
const [cosmosListener] = server.listeners("request");
server.removeAllListeners("request");
server.on("request", (req, res) => {
  const { pathname } = new URL(req.url, "http://localhost");
  if (pathname.startsWith("/_crossdesk/")) {
    control(req, res, pathname).catch(err => answer(res, 500, { message: err.message }));
    return;
  }
  count(req);
  if (args.key && !signatureValid(req, args.key)) {
    answer(res, 401, {
      code: "Unauthorized",
      message: "The input authorization token can't serve the request. The wrong key is being used."
    });
    return;
  }
  if (throttle.count > 0) {
    throttle.count -= 1;
    answer(
      res,
      429,
      { code: "TooManyRequests", message: "Request rate is large." },
      { "x-ms-retry-after-ms": String(throttle.retryAfterMs), "x-ms-substatus": "3200" }
    );
    return;
  }
  cosmosListener(req, res);
});

server.listen(args.port, "127.0.0.1", () => {
  const { port } = server.address();
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
