// Preload for the Microsoft 365 Agents Playground (`node --require scripts/playground-loopback.cjs`):
// every TCP server the process opens listens on 127.0.0.1 only, whatever host it asked for.
// The Playground binds all interfaces by default; this keeps it (and its port probes) on loopback.
// Unix sockets, handles and file descriptors are left alone.
"use strict";

const net = require("net");

const LOOPBACK = "127.0.0.1";
const originalListen = net.Server.prototype.listen;

function isPort(value) {
  return (
    value === undefined ||
    value === null ||
    typeof value === "number" ||
    (typeof value === "string" && /^\d+$/.test(value))
  );
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  if (first !== null && typeof first === "object" && !Array.isArray(first)) {
    // listen(options[, callback]) — a handle / fd / path is not a TCP bind: leave it.
    if (first.path !== undefined || first.handle !== undefined || first._handle !== undefined || first.fd !== undefined) {
      return originalListen.apply(this, args);
    }
    const options = { ...first, host: LOOPBACK };
    delete options.ipv6Only;
    return originalListen.call(this, options, ...args.slice(1));
  }
  if (typeof first === "function") {
    // listen(callback): a random port.
    return originalListen.call(this, 0, LOOPBACK, ...args);
  }
  if (isPort(first)) {
    // listen(port[, host][, backlog][, callback]): replace or insert the host.
    const rest = args.slice(1);
    if (rest.length > 0 && (typeof rest[0] === "string" || rest[0] === undefined || rest[0] === null)) {
      rest.shift();
    }
    return originalListen.call(this, first ?? 0, LOOPBACK, ...rest);
  }
  // listen(path, ...) for a Unix socket or a named pipe.
  return originalListen.apply(this, args);
};
