// Reads Anthropic SSE streams (one base64 line each on stdin) through the TypeScript SDK's own MessageStream and
// BetaMessageStream (what Claude Code uses), and prints, one JSON line per stream, the call blocks each hands the
// application: those of every `contentBlock` event and of the final message (or of the snapshot when it failed).
import Anthropic from '@anthropic-ai/sdk';
import { createInterface } from 'node:readline';

const CALLS = new Set(['tool_use', 'server_tool_use', 'mcp_tool_use']);
const call = (block) => [block.type, block.name ?? null, block.server_name ?? null, block.input ?? null];

async function read(bytes, beta) {
  const client = new Anthropic({
    apiKey: 'k', maxRetries: 0, logLevel: 'off',
    fetch: async () => new Response(bytes, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
  });
  const api = beta ? client.beta.messages : client.messages;
  const stream = api.stream({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  const found = [];
  stream.on('contentBlock', (block) => { if (block && CALLS.has(block.type)) found.push(call(block)); });
  stream.on('error', () => {});
  let failed = false;
  let content;
  try {
    content = (await stream.finalMessage()).content;
  } catch (error) {
    failed = true;
    content = stream.currentMessage?.content ?? [];
  }
  for (const block of content ?? []) if (block && CALLS.has(block.type)) found.push(call(block));
  return { calls: found, failed };
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line) continue;
  const bytes = Buffer.from(line, 'base64');
  process.stdout.write(JSON.stringify({ messages: await read(bytes, false), beta: await read(bytes, true) }) + '\n');
}
