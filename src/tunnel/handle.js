// `handleTunnel`, the JavaScript half of the browser tunnel (src/tunnel/mod.rs). A Web
// `Request`'s body is a stream only JavaScript can read, so this half reads the head, asks the
// native half whether to read on, reads at most the size it allows (counting while streaming,
// never buffering more), and hands the bytes over. Everything else is decided natively.
'use strict';

exports.makeHandleTunnel = (binding) =>
  async function handleTunnel(request, client) {
    try {
      const h = request.headers;
      const head = {
        method: request.method,
        contentType: h.get('content-type'),
        contentEncoding: h.get('content-encoding'),
        contentLength: h.get('content-length'),
        origin: h.get('origin'),
        host: h.get('host') ?? hostOf(request.url),
        forwardedHost: h.get('x-forwarded-host'),
        forwardedFor: h.get('x-forwarded-for'),
        clientAddress: typeof client?.address === 'string' ? client.address : null,
      };
      const checked = binding.tunnelCheck(head);
      if (checked.reply) {
        request.body?.cancel().catch(() => {});
        return respond(checked.reply);
      }
      const body = await readAtMost(request, checked.maxBytes);
      if (body === null) return respond({ status: 413 });
      return respond(JSON.parse(await binding.tunnelAccept(body)));
    } catch {
      // A body cut off mid-stream, or a bug: the client learns nothing more than that.
      return respond({ status: 400 });
    }
  };

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}

/** The body as a Buffer, or null once it passes `max` bytes (the rest is not read). */
async function readAtMost(request, max) {
  if (!request.body) return Buffer.alloc(0);
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

function respond({ status, headers = {}, body = '' }) {
  return new Response(status === 204 || !body ? null : body, {
    status,
    headers: { 'cache-control': 'no-store', ...headers },
  });
}
