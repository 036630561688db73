// Microsoft's Adaptive Card templating engine as a line-oriented reference for the differential tests.
//
// Reads one JSON object per line on stdin: {"template": ..., "data": ..., "host"?: ..., "now"?: ms}
// and writes one JSON object per line on stdout:
//   {"value": <expanded card>}      expansion succeeded
//   {"undefined": true}             expansion produced `undefined`
//   {"error": "<message>"}          the engine threw (while parsing or expanding)
// "now" freezes `new Date()` (used by utcNow) for that one expansion, so results are deterministic.
// Two questions about the expression language itself:
//   {"op": "functions"}                 -> {"value": [every name in Expression.functions]}
//   {"op": "used", "expression": "..."} -> {"value": [the function names its parse tree calls]}
// Started once per test session by tests/cards/conftest.py; it exits when stdin closes.
'use strict';

const path = require('path');
const readline = require('readline');

const root = path.resolve(__dirname, '..', '..', 'node_modules');
const { Template } = require(path.join(root, 'adaptivecards-templating'));
const AEL = require(path.join(root, 'adaptive-expressions'));

// Like the templating engine's lookup: unknown names parse (and fail only when evaluated).
function lookup(type) {
  return (
    AEL.ExpressionFunctions.standardFunctions.get(type) ||
    new AEL.ExpressionEvaluator(type, () => ({ error: 'unknown' }), AEL.ReturnType.Object)
  );
}

function used(expression) {
  const names = new Set();
  const walk = (node) => {
    if (AEL.Expression.functions.get(node.type) !== undefined) {
      names.add(node.type);
    }
    node.children.forEach(walk);
  };
  try {
    walk(AEL.Expression.parse(expression, lookup));
  } catch (error) {
    return []; // an expression both engines refuse covers nothing
  }
  return [...names];
}

function answer(request) {
  if (request.op === 'functions') {
    return [...AEL.Expression.functions.keys()];
  }
  if (request.op === 'used') {
    return used(request.expression);
  }
  return expand(request);
}

const RealDate = Date;

function frozenDate(ms) {
  return class FrozenDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) {
        super(ms);
      } else {
        super(...args);
      }
    }

    static now() {
      return ms;
    }
  };
}

function expand(request) {
  const context = { $root: request.data };
  if (request.host !== undefined) {
    context.$host = request.host;
  }
  if (typeof request.now === 'number') {
    global.Date = frozenDate(request.now);
  }
  try {
    return new Template(request.template).expand(context);
  } finally {
    global.Date = RealDate;
  }
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  if (line.trim() === '') {
    return;
  }
  let reply;
  try {
    const result = answer(JSON.parse(line));
    reply = result === undefined ? { undefined: true } : { value: result };
  } catch (error) {
    reply = { error: String(error && error.message ? error.message : error) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
});

