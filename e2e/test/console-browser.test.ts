/**
 * The web console in real headless Chromium (Debian's `chromium`, driven by playwright-core), served by
 * the proxy's WebSocket listener, against a real QEMU. Nothing is installed here: `.ci/run` installs
 * chromium, and without it this test fails saying so.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { ClientInfo, PluginDefinition } from '@qmpmux/core';
import { startProxy, startQemu, type TestProxy, type TestQemu } from '../src/index.ts';

const CHROMIUM = process.env.QMPMUX_TEST_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = join(tmpdir(), 'qmpmux-console.png');
const TOKEN = 'browser sécret/+=';

describe('the web console in headless Chromium', () => {
  let qemu: TestQemu;
  let mux: TestProxy;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  const tokens: (string | undefined)[] = [];
  const pageErrors: string[] = [];
  const tokenPlugin: PluginDefinition<void> = {
    name: 'test-token',
    validate: () => undefined,
    create: () => ({
      name: 'test-token',
      async onClientConnect(client: ClientInfo) {
        if (client.peer.transport !== 'ws') return;
        tokens.push(client.peer.token);
        if (client.peer.token !== TOKEN) return { action: 'refuse', reason: 'bad token' };
      },
    }),
  };

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`the browser test needs Chromium at ${CHROMIUM}: install Debian's package (apt-get install --no-install-recommends chromium; .ci/run does) or set QMPMUX_TEST_CHROMIUM`);
    }
    qemu = await startQemu();
    mux = await startProxy(qemu.address, { ws: true, plugins: [{ definition: tokenPlugin }] });
    profile = mkdtempSync(join(tmpdir(), 'qmpmux-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1200, height: 700 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await mux?.stop();
    await qemu?.stop();
  });

  const run = async (line: string) => {
    await page.fill('#cmd', line);
    await page.press('#cmd', 'Enter');
  };
  const lastReply = () => page.locator('#transcript .reply').last();

  it('loads from the listener, connects with a token, runs commands and shows replies and events', async () => {
    const origin = new URL(mux.ws.replace(/^ws/, 'http')).origin;
    const res = await page.goto(`${origin}/`);
    assert.equal(res?.url(), `${origin}/qmp`, '/ redirects to the listener path');
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'sha256-/);
    assert.equal(await page.inputValue('#url'), mux.ws);

    // A wrong token: refused by the policy, the error shown.
    await page.fill('#token', 'nope');
    await page.click('#connect');
    await page.locator('#transcript .reply.error', { hasText: 'bad token' }).waitFor();
    await page.locator('#status', { hasText: 'disconnected' }).waitFor();

    await page.fill('#token', TOKEN);
    await page.click('#connect');
    await page.locator('#status', { hasText: 'connected' }).waitFor();
    assert.equal(await page.textContent('#status'), 'connected');
    assert.deepEqual(tokens, ['nope', TOKEN], 'the token reached Peer.token through the subprotocol entry');

    await run('query-status');
    await lastReply().filter({ hasText: '"status": "running"' }).waitFor();

    await run('stop');
    await page.locator('#events .event .name', { hasText: 'STOP' }).waitFor();
    assert.equal(await page.textContent('#event-count'), '1');

    // History: up twice brings back query-status; the VM is now paused.
    await page.focus('#cmd');
    await page.keyboard.press('ArrowUp');
    assert.equal(await page.inputValue('#cmd'), 'stop');
    await page.keyboard.press('ArrowUp');
    assert.equal(await page.inputValue('#cmd'), 'query-status');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.inputValue('#cmd'), '', 'down past the newest entry gives the draft back');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    await page.press('#cmd', 'Enter');
    await lastReply().filter({ hasText: '"status": "paused"' }).waitFor();

    // qmp-shell arguments, and raw JSON with a 64-bit id shown exactly.
    await run('device_del id=nope');
    await page.locator('#transcript .reply.error', { hasText: "Device 'nope' not found" }).waitFor();
    await run('{"execute": "query-name", "id": 18446744073709551615}');
    await lastReply().filter({ hasText: '18446744073709551615' }).waitFor();

    await run('cont');
    await page.locator('#events .event .name', { hasText: 'RESUME' }).waitFor();
    await page.screenshot({ path: SCREENSHOT });
    assert.deepEqual(pageErrors, [], 'no script error and no CSP violation in the page');
  });
});
