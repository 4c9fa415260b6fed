// The event stream's parser: events split across chunks, CRLF split across chunks, comments
// (keep-alives) and multi-line data.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sseParser } from '../../crates/hongbao-http/assets/js/sse.js';

test('events arrive whole however the bytes are cut', () => {
  const events = [];
  const feed = sseParser(event => events.push(event));
  const stream = ': keep-alive\r\nid: 7\r\nevent: packet.received\r\ndata: {"id":"7"}\r\n\r\nid: 8\ndata: a\ndata: b\n\n';
  for (let index = 0; index < stream.length; index += 3) feed(stream.slice(index, index + 3));
  assert.deepEqual(events, [{ id: '7', type: 'packet.received', data: '{"id":"7"}' }, { id: '8', type: 'message', data: 'a\nb' }]);
});
