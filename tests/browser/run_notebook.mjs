// Open a notebook in JupyterLab with Debian's chromium, run all cells, click the first
// "Re-check" button and wait for its result; print one JSON line per milestone.
// Usage: node run_notebook.mjs <lab-url> <token> <notebook> <screenshot.png> <chromium-path> <last>
// <last> is text the notebook's last step shows (e.g. "00.5 The license key").
import { chromium } from "playwright-core";

const [labUrl, token, notebook, shot, executablePath, lastStep] = process.argv.slice(2);
const t0 = Date.now();
const say = (event, extra = {}) =>
  console.log(JSON.stringify({ event, t: (Date.now() - t0) / 1000, ...extra }));

const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`${labUrl}/lab/tree/${notebook}?reset&token=${token}`);
  await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout: 60000 });
  await page.waitForSelector('.jp-StatusBar-TextItem:has-text("Idle")', { timeout: 60000 });
  say("opened");
  await page.click('.lm-MenuBar-itemLabel:text-is("Run")');
  await page.click('.lm-Menu-itemLabel:text-is("Run All Cells")');
  const recheck = page.locator('button:has-text("Re-check")').first();
  await recheck.waitFor({ timeout: 120000 });
  await page.locator(`text=${lastStep}`).first().waitFor({ timeout: 120000 });
  say("cells ran", { buttons: await page.locator('button:has-text("Re-check")').count() });
  await recheck.click();
  const card = page.locator(".widget-output").first();
  await card.locator("text=PASS").first().waitFor({ timeout: 60000 });
  const text = await card.innerText();
  say("rechecked", { text: text.slice(0, 2000) });
  await page.screenshot({ path: shot, fullPage: false });
  say("screenshot", { path: shot });
} finally {
  await browser.close();
}
