/**
 * Swagger UI at /docs, in a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) opens the page of a live stack (2 real ranks, auth off), does what a
 * user does — open "createDataset", "Try it out", fill the file name and the body,
 * "Execute" — and reads the answer the UI shows. The effect must be real: the job that
 * answer names completes, the dataset is there through the API, and h5py reads it.
 * A screenshot of the operation after the call is saved (its path is printed).
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { client } from '../helpers/client.js';
import { h5py } from '../helpers/h5.js';
import { startStack, type Stack } from '../helpers/stack.js';

const CHROMIUM = process.env.PH5_CHROMIUM ?? '/usr/bin/chromium';
const UI_TIMEOUT_MS = 30_000;

let stack: Stack | undefined;
let browser: Browser | undefined;
/** Why the browser could not be started, when it could not: the test then skips, saying so. */
let noBrowser: string | undefined;

before(async () => {
  try {
    // --no-sandbox: the suite runs as root (containers, CI), where Chromium's sandbox refuses to start.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  } catch (err) {
    noBrowser = `cannot launch Chromium at ${CHROMIUM} (install Debian's 'chromium', scripts/setup.sh does): ${(err as Error).message.split('\n')[0]}`;
    return;
  }
  stack = await startStack({ ranks: 2 });
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

test('Swagger UI: "Try it out" on createDataset creates a real dataset', { timeout: 180_000 }, async (t) => {
  if (noBrowser) return t.skip(noBrowser);
  const { url } = stack!;
  const page = await browser!.newPage({ viewport: { width: 1280, height: 1600 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // Everything the page needs comes from the API itself: nothing may be fetched from
  // elsewhere (an offline CI machine must pass too), so any other request is refused.
  const elsewhere: string[] = [];
  await page.route(
    (u) => u.origin !== url,
    (route) => {
      elsewhere.push(route.request().url());
      return route.abort();
    },
  );

  // Deep link straight to the operation (deepLinking is on): the UI expands it.
  const reply = await page.goto(`${url}/docs`);
  assert.equal(reply?.status(), 200);
  const operation = page.locator('#operations-datasets-createDataset');
  await operation.waitFor();
  await operation.locator('.opblock-summary-control').click();

  await operation.locator('button.try-out__btn').click();
  await operation.locator('tr[data-param-name="file"] input').fill('swagger.h5');
  const body = { path: '/from_ui/x', dtype: 'uint16', shape: [6, 7], fillValue: 3 };
  await operation.locator('textarea.body-param__text').fill(JSON.stringify(body, null, 2));
  await operation.locator('button.execute').click();

  // The live response: the status cell and the body Swagger UI shows.
  const live = operation.locator('.live-responses-table .response');
  await live.locator('.response-col_status').waitFor();
  const status = (await live.locator('.response-col_status').innerText()).trim();
  const shownBody = await live.locator('.response-col_description pre').first().innerText();
  const shot = path.join(await mkdtemp(path.join(os.tmpdir(), 'ph5-swagger-ui-')), 'try-it-out.png');
  // The operation's block (request filled in, live response), not the whole 8000-pixel page.
  await operation.screenshot({ path: shot });
  t.diagnostic(`screenshot: ${shot}`);
  console.log(`swagger-ui screenshot: ${shot}`);

  assert.equal(status, '202', `Swagger UI showed ${status}: ${shownBody}`);
  const shown = JSON.parse(shownBody) as { job: { id: string; state: string; file: string } };
  assert.ok(shown.job?.id, `no job in the body Swagger UI shows: ${shownBody}`);
  // The request the UI sent is the one the user filled in (the curl line it shows).
  const curl = await operation.locator('.curl-command').innerText();
  assert.match(curl, new RegExp(`${url.replace(/[.]/g, '\\.')}/v1/files/swagger\\.h5/datasets`));

  // The effect is real: the job completes, the API describes the dataset, h5py reads it.
  const { call, waitJob } = client(url);
  const job = await waitJob(`/v1/jobs/${shown.job.id}`);
  assert.equal(job.state, 'completed', JSON.stringify(job.error));
  const info = await call('GET', '/v1/files/swagger.h5/datasets/from_ui%2Fx');
  assert.equal(info.status, 200, JSON.stringify(info.json));
  assert.equal(info.json.dtype, 'uint16');
  assert.deepEqual(info.json.shape, [6, 7]);
  const seen = await h5py<{ dtype: string; shape: number[]; sum: number }>(
    stack!.filePath('swagger.h5'),
    "d = h5py.File(path, 'r')['/from_ui/x']; out = {'dtype': d.dtype.str, 'shape': list(d.shape), 'sum': int(d[()].sum())}",
  );
  assert.deepEqual(seen, { dtype: '<u2', shape: [6, 7], sum: 6 * 7 * 3 });
  assert.deepEqual(pageErrors, [], 'the page threw no errors');
  assert.deepEqual(elsewhere, [], 'the page fetched nothing from other servers');
  await page.close();
});
