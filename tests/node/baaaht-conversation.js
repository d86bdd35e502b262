#!/usr/bin/env node
// baaaht's conversation through its own client stack: @grpc/grpc-js with @grpc/proto-loader
// loading proto/baaaht/*.proto at run time, with the options of baaaht's TypeScript assistant.
//
//   node tests/node/baaaht-conversation.js BAAAHT_SOCKET
//
// A scripted assistant registers, binds its StreamAgent and answers each DATA message with
// "echo: " + its text (correlation and session ids copied back); a TUI-like client creates a
// session and says "hi" over StreamMessages; then the gateway's StreamChat gets the same reply
// in one chunk and, with chunk_size 3, in several. One line per check passed on stdout; on any
// mismatch, or after 20 s in all, what went wrong on stderr and exit status 1.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const OVERALL_TIMEOUT_MS = 20000;
const WAIT_MS = 5000;       // one answer
const QUIET_MS = 300;       // "nothing else arrives"
const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto', 'baaaht');
const HEX32 = /^[0-9a-f]{32}$/;

let stage = 'start';
const cleanups = [];

function fail(why) {
  process.stderr.write(`FAIL (${stage}): ${why}\n`);
  for (const c of cleanups.splice(0)) {
    try { c(); } catch (e) { /* going anyway */ }
  }
  process.exit(1);
}

function ok(what) {
  process.stdout.write(`ok - ${what}\n`);
}

function check(cond, what, got) {
  if (!cond) {
    fail(`${what}${got === undefined ? '' : `; got ${show(got)}`}`);
  }
  ok(what);
}

function show(v) {
  return JSON.stringify(v, (k, x) => {
    if (x && x.type === 'Buffer' && Array.isArray(x.data)) {
      return `<bytes ${Buffer.from(x.data).toString('utf8')}>`;
    }
    return x;
  });
}

function statusText(s) {
  return `${grpc.status[s.code] || s.code}: ${s.details}`;
}

// A unary call as a promise, with a deadline.
function unary(client, method, req) {
  return new Promise((resolve, reject) => {
    client[method](req, { deadline: Date.now() + WAIT_MS }, (err, res) => {
      if (err) {
        reject(new Error(`${method} failed: ${statusText(err)}`));
      } else {
        resolve(res);
      }
    });
  });
}

// A bidi call: what it receives is queued; next() waits for the next message, ended() for the
// end of the call (its status).
class Stream {
  constructor(client, method, name) {
    this.name = name;
    this.got = [];
    this.waiter = null;
    this.status = null;
    this.error = null;
    this.headers = null;
    this.call = client[method]();
    this.call.on('metadata', (md) => { this.headers = md; this._wake(); });
    this.call.on('data', (r) => { this.got.push(r); this._wake(); });
    this.call.on('error', (e) => { this.error = e; this._wake(); });
    this.call.on('status', (s) => { this.status = s; this._wake(); });
    this.call.on('end', () => this._wake());
    cleanups.push(() => this.call.cancel());
  }

  _wake() {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w();
    }
  }

  _until(pred, ms, what) {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + ms;
      const step = () => {
        const v = pred();
        if (v !== undefined) {
          resolve(v);
          return;
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          this.waiter = null;
          reject(new Error(`${this.name}: no ${what} within ${ms} ms`));
          return;
        }
        const t = setTimeout(() => { this.waiter = null; step(); }, left);
        this.waiter = () => { clearTimeout(t); step(); };
      };
      step();
    });
  }

  write(req) {
    this.call.write(req);
  }

  // The server's headers: the stream is bound (droverd answers them once it has bound it).
  bound(ms = WAIT_MS) {
    return this._until(() => {
      if (this.headers) return this.headers;
      if (this.status) throw new Error(`${this.name} ended before binding: ${statusText(this.status)}`);
      return undefined;
    }, ms, 'headers');
  }

  next(ms = WAIT_MS) {
    return this._until(() => {
      if (this.got.length) return this.got.shift();
      if (this.status) {
        throw new Error(`${this.name} ended while a message was awaited: ${statusText(this.status)}`);
      }
      return undefined;
    }, ms, 'message');
  }

  // Nothing arrives for ms: resolves true, else rejects naming what came.
  async quiet(ms = QUIET_MS) {
    await new Promise((r) => setTimeout(r, ms));
    if (this.got.length) {
      throw new Error(`${this.name}: unexpected ${show(this.got[0])}`);
    }
    return true;
  }

  ended(ms = WAIT_MS) {
    return this._until(() => (this.status ? this.status : undefined), ms, 'end of the call');
  }
}

// The chunks of one StreamChat reply, up to the final one.
async function chatReply(st) {
  const chunks = [];
  for (;;) {
    const r = await st.next();
    if (r.payload !== 'chunk') {
      fail(`StreamChat sent ${r.payload} where a chunk was awaited: ${show(r)}`);
    }
    chunks.push(r.chunk);
    if (r.chunk.isFinal) {
      return chunks;
    }
    if (chunks.length > 100) {
      fail('StreamChat sent over 100 chunks without a final one');
    }
  }
}

function checkChunks(chunks, want, what) {
  const ids = new Set(chunks.map((c) => c.chunkId));
  check(ids.size === 1 && chunks[0].chunkId !== '', `${what}: every chunk has the same chunk_id`,
        [...ids]);
  const seqs = chunks.map((c) => c.sequence);
  check(seqs.every((s, i) => s === i), `${what}: sequences are 0..${chunks.length - 1}`, seqs);
  const finals = chunks.map((c) => c.isFinal);
  check(finals.every((f, i) => f === (i === chunks.length - 1)),
        `${what}: only the last chunk is final`, finals);
  const text = chunks.map((c) => c.text).join('');
  check(text === want, `${what}: the chunks concatenate to ${JSON.stringify(want)}`, text);
}

async function main() {
  const sock = process.argv[2];
  if (!sock) {
    process.stderr.write('usage: node baaaht-conversation.js BAAAHT_SOCKET\n');
    process.exit(2);
  }
  const timer = setTimeout(() => fail(`overall timeout (${OVERALL_TIMEOUT_MS / 1000} s)`),
                           OVERALL_TIMEOUT_MS);

  stage = 'loading the protos';
  const def = protoLoader.loadSync(
    ['common.proto', 'orchestrator.proto', 'agent.proto', 'gateway.proto'],
    { includeDirs: [PROTO_DIR], keepCase: false, longs: String, enums: String, defaults: true,
      oneofs: true });
  const pkg = grpc.loadPackageDefinition(def);
  const target = `unix:${sock}`;
  const creds = grpc.credentials.createInsecure();
  // The assistant is a process of its own upstream: its own channel.
  const agents = new pkg.agent.v1.AgentService(target, creds,
                                               { 'grpc.use_local_subchannel_pool': 1 });
  const orch = new pkg.orchestrator.v1.OrchestratorService(target, creds);
  const gw = new pkg.gateway.v1.GatewayService(target, creds);
  cleanups.push(() => { agents.close(); orch.close(); gw.close(); });
  ok(`loaded common, orchestrator, agent and gateway protos from ${PROTO_DIR}`);

  // ---- the scripted assistant ----
  stage = 'assistant';
  const reg = await unary(agents, 'Register', {
    name: 'assistant', type: 'AGENT_TYPE_WORKER', metadata: { labels: { role: 'assistant' } },
  });
  const agentId = reg.agentId;
  check(HEX32.test(agentId), 'Register gives the assistant a 32-hex agent_id', agentId);
  const as = new Stream(agents, 'StreamAgent', 'StreamAgent');
  const received = [];
  as.write({ agentId });
  await as.bound();
  ok('the assistant bound its StreamAgent with {agent_id} and no payload');
  as.call.on('data', () => {
    for (const r of as.got.splice(0)) {
      if (r.payload !== 'message') continue;
      const m = r.message;
      received.push(m);
      if (m.type !== 'MESSAGE_TYPE_DATA' || m.payload !== 'dataMessage') continue;
      const text = Buffer.from(m.dataMessage.data).toString('utf8');
      as.write({
        agentId,
        message: {
          type: 'MESSAGE_TYPE_DATA', sourceId: agentId, targetId: 'orchestrator',
          dataMessage: { contentType: 'text/plain', data: Buffer.from(`echo: ${text}`, 'utf8') },
          metadata: { correlationId: m.metadata.correlationId, sessionId: m.metadata.sessionId },
        },
      });
    }
  });

  // ---- the TUI-like client ----
  stage = 'conversation';
  const cs = await unary(orch, 'CreateSession', {
    metadata: { name: 'tui-session', labels: { client: 'tui' } },
  });
  const sessionId = cs.sessionId;
  check(HEX32.test(sessionId), 'CreateSession gives a 32-hex session_id', sessionId);
  const tui = new Stream(orch, 'StreamMessages', 'StreamMessages');
  tui.write({ sessionId, message: { role: 'MESSAGE_ROLE_USER', content: 'hi' } });
  const r = await tui.next();
  check(r.payload === 'message', 'StreamMessages answers with a message', r);
  check(r.message.role === 'MESSAGE_ROLE_ASSISTANT', 'the reply has role MESSAGE_ROLE_ASSISTANT',
        r.message.role);
  check(r.message.content === 'echo: hi', 'the reply is "echo: hi"', r.message.content);
  check(HEX32.test(r.message.id), 'the reply has a 32-hex id', r.message.id);
  await tui.quiet();
  ok('exactly one message came back: the user\'s own "hi" is not echoed');

  check(received.length === 1, 'the assistant received one message', received);
  const m = received[0];
  check(m.type === 'MESSAGE_TYPE_DATA', 'the assistant received type MESSAGE_TYPE_DATA', m.type);
  check(m.sourceId === 'orchestrator', 'its source_id is "orchestrator"', m.sourceId);
  check(m.targetId === agentId, 'its target_id is the assistant', m.targetId);
  check(m.payload === 'dataMessage' && m.dataMessage.contentType === 'text/plain' &&
        Buffer.from(m.dataMessage.data).toString('utf8') === 'hi',
        'its data_message is text/plain "hi"', m);
  check(HEX32.test(m.metadata.correlationId), 'its correlation_id is 32 hex digits',
        m.metadata.correlationId);
  check(m.metadata.sessionId === sessionId, 'its session_id is the TUI\'s session',
        m.metadata.sessionId);

  const got = await unary(orch, 'GetSession', { sessionId });
  const hist = got.session.context.messages.map((x) => [x.role, x.content]);
  check(show(hist) === show([['MESSAGE_ROLE_USER', 'hi'], ['MESSAGE_ROLE_ASSISTANT', 'echo: hi']]),
        'GetSession holds the user\'s "hi" and the assistant\'s reply', hist);

  await unary(orch, 'CloseSession', { sessionId });
  const end = await tui.ended();
  check(end.code === grpc.status.OK, 'CloseSession ends the TUI\'s stream with OK', statusText(end));

  // ---- the gateway ----
  stage = 'gateway, one chunk';
  const g1 = await unary(gw, 'CreateGatewaySession', {});
  check(HEX32.test(g1.sessionId), 'CreateGatewaySession{} gives a 32-hex session_id', g1.sessionId);
  const chat = new Stream(gw, 'StreamChat', 'StreamChat');
  chat.write({ sessionId: g1.sessionId, message: { role: 'GATEWAY_MESSAGE_ROLE_USER', content: 'hi' } });
  const one = await chatReply(chat);
  check(one.length === 1, 'StreamChat sends the reply whole, in one chunk', one);
  checkChunks(one, 'echo: hi', 'StreamChat');
  await chat.quiet();
  ok('nothing else on StreamChat: the user\'s "hi" is not echoed');
  chat.call.end();
  const chatEnd = await chat.ended();
  check(chatEnd.code === grpc.status.OK, 'half-closing StreamChat ends it with OK',
        statusText(chatEnd));

  stage = 'gateway, chunk_size 3';
  const g3 = await unary(gw, 'CreateGatewaySession', { config: { streamConfig: { chunkSize: 3 } } });
  check(HEX32.test(g3.sessionId), 'CreateGatewaySession{config{stream_config{chunk_size:3}}} ' +
        'gives a 32-hex session_id', g3.sessionId);
  const chat3 = new Stream(gw, 'StreamChat', 'StreamChat (chunk_size 3)');
  chat3.write({ sessionId: g3.sessionId, message: { role: 'GATEWAY_MESSAGE_ROLE_USER', content: 'hi' } });
  const several = await chatReply(chat3);
  check(several.length > 1, `chunk_size 3 gives several chunks (${several.length})`,
        several.map((c) => c.text));
  check(several.every((c) => Buffer.byteLength(c.text, 'utf8') <= 3), 'each holds at most 3 bytes',
        several.map((c) => c.text));
  checkChunks(several, 'echo: hi', 'StreamChat (chunk_size 3)');
  await chat3.quiet();
  chat3.call.end();
  const chat3End = await chat3.ended();
  check(chat3End.code === grpc.status.OK, 'half-closing it ends it with OK', statusText(chat3End));

  // ---- closing ----
  stage = 'closing';
  for (const sid of [g1.sessionId, g3.sessionId]) {
    await unary(gw, 'CloseGatewaySession', { sessionId: sid });
  }
  ok('CloseGatewaySession closes both gateway sessions');
  check(received.length === 3, 'the assistant received one message per user message',
        received.length);
  as.call.cancel();
  await as.ended();
  await unary(agents, 'Unregister', { agentId, reason: 'done' });
  ok('the assistant cancelled its stream and unregistered');
  agents.close();
  orch.close();
  gw.close();
  clearTimeout(timer);
  ok('conversation through @grpc/grpc-js and @grpc/proto-loader passed');
  process.exit(0);
}

main().catch((e) => fail(e && e.message ? e.message : String(e)));
