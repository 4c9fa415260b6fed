// The live event stream (server-sent events), read with fetch() because EventSource cannot send the
// bearer token. It reconnects with backoff after a drop, sending Last-Event-ID so nothing is lost.

import { deviceId, token } from './api.js';
import { eventIdAfter } from './format.js';

/**
 * A parser of the text/event-stream format: feed it text as it arrives; it calls `onEvent` with
 * `{ id, type, data }` for each complete event. Lines starting with ':' are comments (keep-alives).
 */
export function sseParser(onEvent) {
  let buffer = '';
  let data = [];
  let type = '';
  let id = null;
  const line = text => {
    if (text === '') {
      if (data.length) onEvent({ id, type: type || 'message', data: data.join('\n') });
      data = [];
      type = '';
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const name = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') data.push(value);
    else if (name === 'event') type = value;
    else if (name === 'id' && !value.includes('\0')) id = value;
  };
  return chunk => {
    buffer += chunk;
    // A CR at the end may be the first half of a CRLF: keep it for the next chunk.
    const cut = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
    const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/);
    buffer = lines.pop() + buffer.slice(cut);
    lines.forEach(line);
  };
}

/**
 * Keeps a stream open until `stop()`: `onEvent(event)` for each event (parsed JSON), `onState(live)`
 * when it connects or drops. `after` is the id of the last event already known, so the stream
 * resumes right after it.
 */
export function openStream({ after, onEvent, onState }) {
  const controller = new AbortController();
  let lastId = after || null;
  (async () => {
    let backoff = 1000;
    while (!controller.signal.aborted) {
      try {
        const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${token()}`, 'X-Device-Id': deviceId() };
        if (lastId) headers['Last-Event-ID'] = lastId;
        const response = await fetch('/v1/events/stream', { headers, signal: controller.signal, cache: 'no-store' });
        if (response.status === 401) return onState(false);
        if (response.status === 400 && lastId) lastId = null;
        else if (response.ok && response.body) {
          onState(true);
          backoff = 1000;
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          const feed = sseParser(frame => {
            let event;
            try {
              event = JSON.parse(frame.data);
            } catch {
              return;
            }
            if (!event || typeof event !== 'object') return;
            event.id = String(event.id ?? frame.id);
            event.type = event.type || frame.type;
            if (/^\d+$/.test(event.id) && eventIdAfter(event.id, lastId)) lastId = event.id;
            onEvent(event);
          });
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            feed(decoder.decode(value, { stream: true }));
          }
        }
      } catch {
        // A network error, a dropped stream or a stop: decided below.
      }
      onState(false);
      if (controller.signal.aborted) return;
      await new Promise(resolve => setTimeout(resolve, backoff + Math.random() * 500));
      backoff = Math.min(backoff * 2, 30000);
    }
  })();
  return { stop: () => controller.abort() };
}
