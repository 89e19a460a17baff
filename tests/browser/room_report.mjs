// The room page a trainer opens (ambient-lb report --html): Debian's chromium loads it from a file and
// checks what a trainer relies on at 100 attendees. Prints one JSON line per finding (the Python side asserts).
// Usage: node room_report.mjs <page.html> <screenshot.png> <chromium path>
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [page_path, shot, executablePath] = process.argv.slice(2);
const say = (event, extra = {}) => console.log(JSON.stringify({ event, ...extra }));
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  for (const width of [1280, 800]) {  // a projector and a laptop's half screen
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    await page.goto(pathToFileURL(page_path).href);
    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
      rows: document.querySelectorAll("#attendees tbody tr").length,
      stuckGroups: document.querySelectorAll("#stuck tbody tr").length,
      histogram: (() => { const r = document.querySelector("#histogram svg")?.getBoundingClientRect();
                          return r ? { width: r.width, height: r.height } : null; })(),
      histogramBars: document.querySelectorAll("#histogram svg path, #histogram svg use").length,
      // every cell of the attendee table stays inside its table (no text spilling sideways)
      spills: [...document.querySelectorAll("#attendees td")].filter(td => td.scrollWidth > td.clientWidth + 1).length,
    }));
    say("layout", { width, ...layout });
    if (width === 1280) await page.screenshot({ path: shot, fullPage: false });
    await page.close();
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(pathToFileURL(page_path).href);
  const visible = () => page.$$eval("#attendees tbody tr", rs => rs.filter(r => !r.hidden).length);
  const column = (i) => page.$$eval("#attendees tbody tr", (rs, i) => rs.filter(r => !r.hidden)
    .map(r => r.cells[i].textContent.trim()), i);
  // sort by minutes (5th column), both ways
  await page.click("#attendees th:text-is('minutes')");
  const up = (await column(4)).map(Number);
  await page.click("#attendees th:text-is('minutes')");
  const down = (await column(4)).map(Number);
  say("sorted", { up: up.slice(0, 3), down: down.slice(0, 3),
                  ascending: up.every((v, i) => i === 0 || up[i - 1] <= v),
                  descending: down.every((v, i) => i === 0 || down[i - 1] >= v) });
  await page.check("#only-stuck");
  const stuck = await visible();
  const states = new Set(await column(1));
  await page.uncheck("#only-stuck");
  await page.fill("#filter", "attendee-042");
  const one = await column(0);
  const shown = await page.textContent("#shown");
  await page.fill("#filter", "");
  say("filtered", { stuck, states: [...states], one, shown, all: await visible() });
} finally {
  await browser.close();
}
