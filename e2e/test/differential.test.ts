/**
 * The same bytes, sent straight to QEMU and through qmpmux, get the same bytes back: the greeting,
 * every reply, every error (and how many of them), and events, except what QEMU itself varies.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startProxy, startQemu, type TestProxy, type TestQemu } from '../src/index.ts';
import { OOB_STEPS, POST_NEGOTIATION, PRE_NEGOTIATION, normalize } from '../src/transcript.ts';

async function runTranscript(address: string): Promise<string[]> {
  const c = await RawClient.connect(address);
  await c.count(1);
  for (const step of [...PRE_NEGOTIATION, ...POST_NEGOTIATION]) c.send(step);
  await c.until(() => c.messages.some((m) => m.raw.includes('"id": "end"')), 60_000, 'the end of the transcript');
  c.close();
  return c.messages.map((m) => normalize(m.raw));
}

async function runOob(address: string): Promise<string[]> {
  const c = await RawClient.connect(address);
  await c.count(1);
  let n = 1;
  for (const step of OOB_STEPS) {
    c.send(step);
    await c.count(++n);
  }
  c.close();
  return c.messages.map((m) => normalize(m.raw));
}

describe('differential: direct QEMU vs through qmpmux', () => {
  let direct: TestQemu;
  let behind: TestQemu;
  let mux: TestProxy;

  before(async () => {
    [direct, behind] = await Promise.all([startQemu(), startQemu()]);
    mux = await startProxy(behind.address);
  });
  after(async () => {
    await mux?.stop();
    await Promise.all([direct?.stop(), behind?.stop()]);
  });

  for (const via of ['unix', 'tcp'] as const) {
    it(`gives byte-identical replies to the whole transcript (client on ${via})`, async () => {
      const want = await runTranscript(direct.address);
      const got = await runTranscript(via === 'unix' ? mux.unix : mux.tcp);
      assert.ok(want.length > PRE_NEGOTIATION.length + 1000, `QEMU answered ${want.length} messages`);
      assert.equal(got.length, want.length, 'same number of messages');
      for (let i = 0; i < want.length; i++) assert.equal(got[i], want[i], `message ${i}`);
    });
  }

  it('gives byte-identical replies with OOB negotiated', async () => {
    const want = await runOob(direct.address);
    const got = await runOob(mux.unix);
    assert.deepEqual(got, want);
  });
});
