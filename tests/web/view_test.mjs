// Drives `ronin view` in headless Chromium (Debian's, through playwright-core): the page
// lists the runs, a run's curves are drawn, a scalar logged while the page is open shows
// up without a reload, and a screenshot is saved for the Rust test to check.
//
// node view_test.mjs URL SCREENSHOT READY_FILE   (READY_FILE is written once the page is
// up; the test then logs a `live/probe` scalar into the run and the page must show it)
// Prints one JSON line: {"rows": N, "charts": [...tags], "live": ms, "detail": bool,
// "images": [...tags of images shown], "summary": bool, "errors": [...page errors]}.
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

// playwright-core lives where the set-up installed it (RONIN_WEB: .ronin/web).
const require = createRequire(join(process.env.RONIN_WEB, "package.json"));
const { chromium } = require("playwright-core");

const [url, shot, ready] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-dev-shm-usage"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("#runs tbody tr", { timeout: 20000 });
  const rows = await page.locator("#runs tbody tr").count();
  // The newest run is selected by default: its charts appear.
  await page.waitForSelector(".chart canvas", { timeout: 20000 });
  const charts = await page.locator(".chart h3").allTextContents();
  // Open the run page.
  await page.locator("#runs tbody tr a.open").first().click();
  await page.waitForSelector("#detail h3", { timeout: 20000 });
  const detail = (await page.locator("#detail").textContent()).includes("pipeline.ron");
  // The run's logged images (confusion matrix, misclassified samples) are decoded PNGs.
  // Each image loads on its own: wait for the confusion matrix itself, not just the first
  // image (on a loaded machine the others may still be decoding).
  await page.waitForFunction(() => [...document.querySelectorAll("#images img")].some((i) => i.alt === "images/confusion_matrix" && i.complete && i.naturalWidth > 0), null, { timeout: 30000 });
  const images = await page.evaluate(() => [...document.querySelectorAll("#images img")].filter((i) => i.naturalWidth > 0).map((i) => i.alt));
  const summary = (await page.locator("#detail").textContent()).includes("Total params");
  // Live: say we are ready; the test logs a new tag; wait for its chart.
  writeFileSync(ready, "ready");
  const started = Date.now();
  await page.waitForFunction(() => [...document.querySelectorAll(".chart h3")].some((h) => h.textContent === "live/probe"), null, { timeout: 10000 });
  const live = Date.now() - started;
  await page.screenshot({ path: shot, fullPage: false });
  console.log(JSON.stringify({ rows, charts, live, detail, images, summary, errors }));
} finally {
  await browser.close();
}
