// Open notebook 06 in JupyterLab with Debian's chromium, run all cells, then use the explorer's widgets:
// run one case, change the mode and the waypoint, run again; print one JSON line per milestone.
// Usage: node explore_notebook.mjs <lab-url> <token> <notebook> <screenshot.png> <chromium-path>
import { say, withNotebookRunning } from "./lab.mjs";

const [labUrl, token, notebook, shot, executablePath] = process.argv.slice(2);

await withNotebookRunning({ labUrl, token, notebook, executablePath }, async (page) => {
  const apply = page.locator('button:has-text("Apply and measure")');
  await apply.waitFor({ timeout: 240000 });
  const explorer = page.locator('.widget-vbox:has(> .widget-button:has-text("Apply and measure"))').last();
  const out = explorer.locator(".widget-output").last();
  say("explorer shown");

  const measure = async (label) => {
    const before = (await out.innerText()).slice(0, 4000);
    await apply.scrollIntoViewIfNeeded();
    await apply.click();
    await page.waitForFunction(
      ([el, old]) => el.innerText.includes("Explorer: one case") && el.innerText !== old
        && el.querySelector("img") !== null,
      [await out.elementHandle(), before], { timeout: 120000 });
    const text = (await out.innerText()).slice(0, 4000);
    const img = await out.locator("img").last().getAttribute("src");
    say(label, { text, chart: img ? img.length : 0, chartHash: img ? img.slice(-64) : "" });
  };

  await measure("first case");
  await explorer.locator('.widget-dropdown:has(label:text-is("mode")) select').selectOption("Any");
  await explorer.locator('.widget-checkbox:has-text("through the waypoint") input[type=checkbox]').uncheck();
  await measure("second case");
  await page.screenshot({ path: shot, fullPage: false });
  say("screenshot", { path: shot });
});
