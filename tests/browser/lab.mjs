// What both browser scripts do first: Debian's chromium opens a notebook in JupyterLab, waits for an idle
// kernel, and runs all cells. `say` prints one JSON line per milestone (the Python side reads them).
import { chromium } from "playwright-core";

const t0 = Date.now();
export const say = (event, extra = {}) =>
  console.log(JSON.stringify({ event, t: (Date.now() - t0) / 1000, ...extra }));

// Calls `use(page)` with every cell started; the browser is closed afterwards, whatever happens.
export async function withNotebookRunning({ labUrl, token, notebook, executablePath }, use) {
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
    await use(page);
  } finally {
    await browser.close();
  }
}
