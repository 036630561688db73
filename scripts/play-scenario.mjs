// Plays the seed scenario in the Microsoft 365 Agents Playground, headless, and saves screenshots.
//
//   1. start the bot:        make run   (or: PORT=3978 .venv/bin/crossdesk run)
//   2. start the Playground: scripts/playground.sh          (installs playwright-core too)
//   3. play:                 node scripts/play-scenario.mjs   (again and again: it starts over)
//
// Screenshots and a text log go to scratch/playground-shots/. Browser: Debian's chromium
// (apt-get install -y chromium). Every request that is not to the Playground on loopback (its page
// asks a Microsoft CDN for fonts) is aborted, so the run stays on this machine.
// Environment: PLAYGROUND_URL (default http://127.0.0.1:56150), CHROMIUM (default /usr/bin/chromium),
// SHOTS_DIR (default scratch/playground-shots).
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const scratchRequire = createRequire(join(repo, "scratch", "playground", "package.json"));
const { chromium } = scratchRequire("playwright-core");

const URL_ = process.env.PLAYGROUND_URL ?? "http://127.0.0.1:56150";
const SHOTS = resolve(process.env.SHOTS_DIR ?? join(repo, "scratch", "playground-shots"));
const GUEST = process.env.GUEST_NAME ?? "Megan"; // givenName of currentUser in .m365agentsplayground.yml
const QUESTION = "My parental leave request is stuck";
const DETAIL = "It's about leave: I submitted it three weeks ago and it still says pending approval.";
mkdirSync(SHOTS, { recursive: true });

const log = [];
const failures = [];
function note(line) {
  console.log(line);
  log.push(line);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const page = await browser.newPage({ viewport: { width: 1440, height: 1200 } });
const playgroundHost = new URL(URL_).host;
await page.route("**/*", (route) => {
  const url = new URL(route.request().url());
  return url.host === playgroundHost || url.protocol === "data:" || url.protocol === "blob:"
    ? route.continue()
    : route.abort();
});

let shot = 0;
async function screenshot(name) {
  shot += 1;
  const path = join(SHOTS, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path });
  note(`  screenshot: ${path}`);
}

/** Wait until the page stops changing (the bot has answered, or nothing more comes). */
async function settle(quietMs = 2000, maxMs = 20000) {
  const start = Date.now();
  let last = await page.evaluate(() => document.body.innerText);
  let since = Date.now();
  while (Date.now() - start < maxMs) {
    await page.waitForTimeout(250);
    const now = await page.evaluate(() => document.body.innerText);
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
  }
}

async function waitForText(text, timeout = 20000) {
  try {
    await page.getByText(text, { exact: false }).last().waitFor({ timeout });
    note(`  seen: ${JSON.stringify(text)}`);
    return true;
  } catch {
    note(`  NOT SEEN within ${timeout / 1000}s: ${JSON.stringify(text)}`);
    failures.push(`not seen: ${text}`);
    return false;
  }
}

async function type(text) {
  note(`guest types: ${JSON.stringify(text)}`);
  const box = page.locator('[role="textbox"][data-lexical-editor]');
  await box.click();
  await page.keyboard.type(text);
  await page.locator('button[aria-label="Send Message"]').click();
}

async function expectAbsent(text) {
  const count = await page.getByText(text, { exact: false }).count();
  if (count > 0) {
    note(`  UNEXPECTED: ${JSON.stringify(text)} is on the page`);
    failures.push(`unexpected: ${text}`);
  } else {
    note(`  absent, as expected: ${JSON.stringify(text)}`);
  }
}

/** Click a card button; `which` picks among cards offering it: "last" (newest) or "first". */
async function clickCard(label, which = "last") {
  const buttons = page.locator(`.ac-actionSet button[aria-label="${label}"]`);
  const count = await buttons.count();
  note(`guest clicks ${which} card button ${JSON.stringify(label)} (${count} such buttons on the page)`);
  const button = which === "first" ? buttons.first() : buttons.last();
  await button.scrollIntoViewIfNeeded();
  await button.click();
}

/** The card buttons on the page, newest last. */
async function cardButtons() {
  return page.$$eval(".ac-actionSet button", (els) =>
    els.map((e) => `${e.getAttribute("aria-label")}${e.disabled ? " (disabled)" : ""}`),
  );
}

try {
  note(`open ${URL_}`);
  await page.goto(URL_, { waitUntil: "domcontentloaded" });
  note("step 1: the guest opens the chat and starts over");
  // The Playground has one personal chat id, so a bot that keeps its store (the same
  // `make run`) continues the chat an earlier run left: a new guest sees the greeting, a
  // returning one where the chat stands. "start over" begins at the front door either way.
  await settle();
  await type("start over");
  await waitForText("Let's start over.");
  await waitForText("What do you need help with today?");
  await settle();
  await waitForText(`Hi ${GUEST}, welcome to the Help Desk`, 1000);
  await screenshot("greeting");

  note("step 1b: the guest says hi first, as almost everyone does");
  const questionsBefore = await page.getByText("What do you need help with today?").count();
  await type("hi");
  await waitForText(`Hi ${GUEST}!`);
  await settle();
  const questionsAfter = await page.getByText("What do you need help with today?").count();
  note(`  the question asked ${questionsBefore} time(s) before "hi", ${questionsAfter} after`);
  if (questionsAfter <= questionsBefore) failures.push("the question was not asked again after hi");
  await screenshot("hi-greeted");

  note("step 2: the guest asks a question");
  await type(QUESTION);
  await waitForText("Which team should take this?");
  await page.locator('.ac-actionSet button[aria-label="HR"]').last().waitFor({ timeout: 20000 });
  await settle();
  note(`  card buttons: ${JSON.stringify(await cardButtons())}`);
  await screenshot("routing-card");

  note("step 3: the guest picks HR");
  await clickCard("HR");
  await waitForText("You're now with Human Resources");
  await waitForText("this is Human Resources");
  await waitForText("Is this about leave, pay, or something else?");
  await settle();
  await waitForText(`Hi ${GUEST}, this is Human Resources. Help Desk sent you over with your question: "${QUESTION}"`, 1000);
  // The transfer card's facts: the real question, never the "hi" typed before it.
  await waitForText("Your question", 1000);
  const cardText = await page.locator(".ac-adaptiveCard", { hasText: "You're now with Human Resources" }).last().innerText();
  note(`  transfer card: ${JSON.stringify(cardText)}`);
  if (!cardText.includes(QUESTION)) failures.push("the transfer card does not show the real question");
  if (/Your question\s*hi\b/.test(cardText)) failures.push('the transfer card shows "hi" as the question');
  await screenshot("transfer-and-hr-greeting");

  note("step 3b: the guest clicks the routing card's HR button again, after the transfer");
  await clickCard("HR", "first");
  await settle(3000);
  await waitForText("That card is from an earlier step", 1000);
  const transferCards = await page.getByText("You're now with Human Resources").count();
  note(`  transfer cards on the page: ${transferCards}`);
  if (transferCards !== 1) failures.push(`expected one transfer card, saw ${transferCards}`);
  await screenshot("old-card-after-transfer");

  note("step 4: the guest answers HR's follow-up");
  await type(DETAIL);
  await waitForText("Anything else before we close?");
  await page.locator(`.ac-actionSet button[aria-label="That's all"]`).last().waitFor({ timeout: 20000 });
  await settle();
  note(`  card buttons: ${JSON.stringify(await cardButtons())}`);
  await screenshot("options-card");

  note("step 5: the guest types something unexpected at the options card");
  await type("banana");
  await settle(3000);
  await waitForText("not sure which one you mean", 1000);
  await screenshot("unexpected-banana");

  note("step 6: the guest clicks the old routing card's button again (IT Support)");
  await clickCard("IT Support", "first");
  await settle(3000);
  await expectAbsent("You're now with IT Support");
  await waitForText("here is where we are now", 1000);
  await screenshot("old-card-clicked");

  note("step 7: the guest clicks That's all, and rates the chat");
  await clickCard("That's all");
  await page.locator('.ac-actionSet button[aria-label="5 ★"]').last().waitFor({ timeout: 20000 });
  await settle();
  await screenshot("rating-card");
  await clickCard("5 ★");
  await waitForText("HR has your request");
  await settle();
  await waitForText(`Thanks ${GUEST}. HR has your request`, 1000);
  await screenshot("closing");

  note("step 7b: the guest says thanks: acknowledged, no new chat");
  const welcomesAtEnd = await page.locator("p", { hasText: "welcome to the Help Desk" }).count();
  await type("thanks!");
  await waitForText("You're welcome!");
  await settle();
  const welcomesAfterThanks = await page.locator("p", { hasText: "welcome to the Help Desk" }).count();
  if (welcomesAfterThanks !== welcomesAtEnd) failures.push("thanks after the end started a new chat");
  await screenshot("thanks-after-end");

  note("step 8: the guest writes again after the chat closed");
  const welcomesBefore = await page.locator("p", { hasText: "welcome to the Help Desk" }).count();
  await type("Hello again");
  await settle(3000);
  const welcomesAfter = await page.locator("p", { hasText: "welcome to the Help Desk" }).count();
  note(`  Help Desk welcomes on the page: ${welcomesBefore} before, ${welcomesAfter} after`);
  if (welcomesAfter <= welcomesBefore) failures.push("no new Help Desk welcome after the chat closed");
  await screenshot("after-close");
} catch (error) {
  note(`FAILED: ${error.message}`);
  await screenshot("failure").catch(() => {});
  process.exitCode = 1;
} finally {
  const body = await page.evaluate(() => document.body.innerText).catch(() => "");
  writeFileSync(join(SHOTS, "page-text.txt"), body);
  note(failures.length ? `${failures.length} expectation(s) failed:\n  ${failures.join("\n  ")}` : "all expectations met");
  if (failures.length) process.exitCode = 1;
  note(`page text: ${join(SHOTS, "page-text.txt")}`);
  writeFileSync(join(SHOTS, "run.log"), log.join("\n") + "\n");
  await browser.close();
}
