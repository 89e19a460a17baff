// Open a notebook in JupyterLab with Debian's chromium, run all cells, click the first
// "Re-check" button and wait for its result; print one JSON line per milestone.
// Usage: node run_notebook.mjs <lab-url> <token> <notebook> <screenshot.png> <chromium-path> <last>
// <last> is text the notebook's last step shows (e.g. "00.5 The license key").
import { say, withNotebookRunning } from "./lab.mjs";

const [labUrl, token, notebook, shot, executablePath, lastStep] = process.argv.slice(2);

await withNotebookRunning({ labUrl, token, notebook, executablePath }, async (page) => {
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
});
