// Plays a guest and two agents in three Microsoft 365 Agents Playgrounds, headless, and saves
// screenshots of all three: agents say they're available, the guest asks HR for a person, both
// agents are offered the chat, Alex accepts (Adele's offer turns into "Taken by Alex Wilber" in
// place), they talk both ways, Alex ends the chat with notes and HR's pipeline goes on (a
// rating); then the guest asks the Help Desk for someone, Adele accepts and transfers the chat to
// HR, where the guest asks for a person again, Alex joins and sees the chat so far, and the guest
// ends the chat.
//
//   1. start the bot:         make run   (or: PORT=3978 .venv/bin/crossdesk run)
//   2. start the Playgrounds: scripts/playground.sh desk   (the guest on 56150, Alex on 56151,
//                             Adele on 56152; installs playwright-core too)
//   3. play:                  node scripts/play-agents.mjs   (again and again: the guest starts over)
//
// Screenshots (NN-<who>-<step>.png), each page's text and a log go to
// scratch/playground-shots/agents/; the script exits 1 if an expected text was missing. Browser:
// Debian's chromium. Every request that is not to a Playground on loopback is aborted.
// Afterwards it reads the guest's chat from the bot's store with `.venv/bin/crossdesk sessions`
// (the same CROSSDESK_SQLITE_PATH as the bot's, default crossdesk.sqlite3) to check the notes and
// who transferred; a store it cannot read is reported and skipped.
// Environment: GUEST_URL, ALEX_URL, ADELE_URL (default http://127.0.0.1:56150, 56151, 56152),
// CHROMIUM (default /usr/bin/chromium), SHOTS_DIR (default scratch/playground-shots/agents).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const scratchRequire = createRequire(join(repo, "scratch", "playground", "package.json"));
const { chromium } = scratchRequire("playwright-core");

const SHOTS = resolve(process.env.SHOTS_DIR ?? join(repo, "scratch", "playground-shots", "agents"));
// The people of .m365agentsplayground.yml and scripts/playground-agent*.yaml.
const GUEST = { who: "guest", name: "Megan Bowen", given: "Megan", url: process.env.GUEST_URL ?? "http://127.0.0.1:56150" };
const ALEX = { who: "alex", name: "Alex Wilber", given: "Alex", url: process.env.ALEX_URL ?? "http://127.0.0.1:56151" };
const ADELE = { who: "adele", name: "Adele Vance", given: "Adele", url: process.env.ADELE_URL ?? "http://127.0.0.1:56152" };
const PEOPLE = [GUEST, ALEX, ADELE];
const GUEST_CHAT = "a:1CrossdeskPlaygroundPersonalChatMeganBowen";

const QUESTION = "My parental leave request is stuck";
const DETAIL = "It's about leave: I submitted it three weeks ago and it still says pending approval.";
const WHILE_WAITING = "It's request #4711, the one for March.";
const ALEX_SAYS = "Hi Megan, I'm Alex from HR. I can see request #4711, let me check it.";
// Markdown characters: relayed both ways, they must show exactly as typed.
const GUEST_SAYS = "Thanks! It's the *March* one, approver_name is my manager.";
const ALEX_NOTE = "Approval sits with the manager; pinged Lynne.";
const NOTES = "Manager approval was missing; asked Lynne to approve today.";
const QUESTION_2 = "Can someone check my contract hours?";
const ADELE_SAYS = "Hi Megan, contract hours are HR's business: I'll pass you over to them.";
const DETAIL_2 = "It's about pay: my contract says 32 hours, my payslip 40.";
const PERSON = "I'd like to talk to someone";

rmSync(SHOTS, { recursive: true, force: true });
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
const loopback = new Set(PEOPLE.map((p) => new URL(p.url).host));
for (const person of PEOPLE) {
  // A context each: three people, three browsers as far as the pages can tell.
  const context = await browser.newContext({ viewport: { width: 1280, height: 1100 } });
  person.page = await context.newPage();
  await person.page.route("**/*", (route) => {
    const url = new URL(route.request().url());
    return loopback.has(url.host) || url.protocol === "data:" || url.protocol === "blob:"
      ? route.continue()
      : route.abort();
  });
}

let shot = 0;
async function screenshot(person, name) {
  shot += 1;
  const path = join(SHOTS, `${String(shot).padStart(2, "0")}-${person.who}-${name}.png`);
  await person.page.screenshot({ path });
  note(`  screenshot: ${path}`);
}

async function bodyText(person) {
  return person.page.evaluate(() => document.body.innerText);
}

function occurrences(haystack, needle) {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) count += 1;
  return count;
}

/** What every page shows now, to tell what is new after a step. */
async function mark() {
  const seen = new Map();
  for (const person of PEOPLE) seen.set(person, await bodyText(person));
  return seen;
}

/** Wait until `text` shows on `person`'s page more often than it did at `before` (a mark()). */
async function expectNew(person, text, before, timeout = 20000) {
  const had = occurrences(before.get(person) ?? "", text);
  const start = Date.now();
  while (Date.now() - start < timeout) {
    if (occurrences(await bodyText(person), text) > had) {
      note(`  ${person.who} sees: ${JSON.stringify(text)}`);
      return true;
    }
    await person.page.waitForTimeout(250);
  }
  note(`  NOT SEEN by ${person.who} within ${timeout / 1000}s: ${JSON.stringify(text)}`);
  failures.push(`${person.who} did not see: ${text}`);
  return false;
}

/** `text` must not show on `person`'s page (more often than at `before`, if given). */
async function expectAbsent(person, text, before) {
  const had = before ? occurrences(before.get(person) ?? "", text) : 0;
  const now = occurrences(await bodyText(person), text);
  if (now > had) {
    note(`  UNEXPECTED on ${person.who}'s page: ${JSON.stringify(text)}`);
    failures.push(`${person.who} saw: ${text}`);
  } else {
    note(`  not on ${person.who}'s page, as expected: ${JSON.stringify(text)}`);
  }
}

/** Wait until no page changes any more (the bot has answered everyone, or nothing more comes). */
async function settle(quietMs = 1500, maxMs = 15000) {
  const start = Date.now();
  let last = [...(await mark()).values()].join("\u0000");
  let since = Date.now();
  while (Date.now() - start < maxMs) {
    await GUEST.page.waitForTimeout(250);
    const now = [...(await mark()).values()].join("\u0000");
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
  }
}

async function type(person, text) {
  note(`${person.who} types: ${JSON.stringify(text)}`);
  const box = person.page.locator('[role="textbox"][data-lexical-editor]');
  await box.click();
  await person.page.keyboard.type(text);
  await person.page.locator('button[aria-label="Send Message"]').click();
}

/** The newest card on the page showing `text`. */
function cardWith(person, text) {
  return person.page.locator(".ac-adaptiveCard", { hasText: text }).last();
}

/** Click a button of the newest card showing `text` (or of the newest card offering it). */
async function click(person, label, { card } = {}) {
  const scope = card ? cardWith(person, card) : person.page;
  const buttons = scope.locator(`.ac-actionSet button[aria-label="${label}"]`);
  await buttons.last().waitFor({ timeout: 20000 });
  note(`${person.who} clicks ${JSON.stringify(label)}${card ? ` on the card "${card}"` : ""}`);
  const button = buttons.last();
  await button.scrollIntoViewIfNeeded();
  await button.click();
}

async function cardCount(person) {
  return person.page.locator(".ac-adaptiveCard").count();
}

async function buttonCount(person, label) {
  return person.page.locator(`.ac-actionSet button[aria-label="${label}"]`).count();
}

/** Make `agent` available, whatever their record says now (their page shows where they stand). */
async function available(agent, how) {
  const before = await mark();
  if (how === "button" && (await buttonCount(agent, "I'm available")) > 0) {
    await click(agent, "I'm available");
  } else {
    await type(agent, "available");
  }
  await expectNew(agent, "You're available: new chats will be offered to you here.", before);
}

/** Read the guest's chat from the bot's store, if this machine's store is the bot's. */
function exportOfGuestChat() {
  const crossdesk = join(repo, ".venv", "bin", "crossdesk");
  if (!existsSync(crossdesk)) {
    note("  store not checked: .venv/bin/crossdesk is missing");
    return null;
  }
  try {
    const out = execFileSync(crossdesk, ["sessions", "--conversation", GUEST_CHAT], {
      cwd: repo,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return JSON.parse(out);
  } catch (error) {
    note(`  store not checked: ${String(error.stderr || error.message).trim().split("\n")[0]}`);
    return null;
  }
}

try {
  for (const person of PEOPLE) {
    note(`open ${person.url} as ${person.name}`);
    await person.page.goto(person.url, { waitUntil: "domcontentloaded" });
  }
  // Opening a page installs the app in that person's chat: the agents are told where they stand.
  await settle();
  for (const agent of [ALEX, ADELE]) {
    await expectNew(agent, `Hi ${agent.given}, you're an agent for Help Desk, Human Resources.`, new Map());
  }
  await screenshot(ALEX, "opened");

  note("step 1: the agents say they take chats (Alex with the card's button, Adele by typing)");
  await available(ALEX, "button");
  await available(ADELE, "typed");
  await settle();
  await screenshot(ADELE, "available");

  note("step 2: the guest starts over, asks, goes to HR and asks for a person");
  let before = await mark();
  await type(GUEST, "start over");
  await expectNew(GUEST, "What do you need help with today?", before);
  await settle();
  before = await mark();
  await type(GUEST, QUESTION);
  await expectNew(GUEST, "Which team should take this?", before);
  await settle();
  const routeButtons = await cardWith(GUEST, "Which team should take this?").locator(".ac-actionSet button").evaluateAll((els) =>
    els.map((e) => e.getAttribute("aria-label")),
  );
  note(`  the routing card's buttons: ${JSON.stringify(routeButtons)}`);
  if (!routeButtons.includes("Talk to someone")) failures.push("the routing card offers no 'Talk to someone'");
  before = await mark();
  await click(GUEST, "HR", { card: "Which team should take this?" });
  await expectNew(GUEST, "Is this about leave, pay, or something else?", before);
  await settle();
  before = await mark();
  await type(GUEST, DETAIL);
  await expectNew(GUEST, "Anything else before we close?", before);
  await settle();
  before = await mark();
  await click(GUEST, PERSON, { card: "Anything else before we close?" });
  await expectNew(GUEST, "Finding someone from Human Resources for you", before);

  note("step 3: both agents are offered the chat");
  for (const agent of [ALEX, ADELE]) {
    await expectNew(agent, `${GUEST.name} is waiting for Human Resources`, before);
  }
  await settle();
  const offer = await cardWith(ADELE, "is waiting for Human Resources").innerText();
  note(`  Adele's offer card: ${JSON.stringify(offer)}`);
  if (!offer.includes(QUESTION)) failures.push("the offer card does not show the question");
  await screenshot(GUEST, "waiting-for-hr");
  await screenshot(ADELE, "offer");

  note("step 4: the guest writes while waiting");
  before = await mark();
  await type(GUEST, WHILE_WAITING);
  await expectNew(GUEST, "I've added that for whoever takes your chat", before);
  await settle();

  note("step 5: Alex accepts; Adele's offer card becomes 'Taken by Alex Wilber' in place");
  const adeleCards = await cardCount(ADELE);
  before = await mark();
  await click(ALEX, "Accept", { card: "is waiting for Human Resources" });
  await expectNew(GUEST, `${ALEX.name} from Human Resources has joined`, before);
  await expectNew(ALEX, `You're chatting with ${GUEST.name} (chat 1)`, before);
  await expectNew(ALEX, "You accepted this chat.", before);
  await expectNew(ADELE, `Taken by ${ALEX.name}`, before);
  await settle();
  const adeleCardsAfter = await cardCount(ADELE);
  note(`  cards on Adele's page: ${adeleCards} before the accept, ${adeleCardsAfter} after`);
  if (adeleCardsAfter !== adeleCards) failures.push("Adele's offer was not updated in place (a card was added)");
  if ((await buttonCount(ADELE, "Accept")) !== 0) failures.push("Adele's page still offers Accept");
  const joined = await cardWith(ALEX, "You're chatting with").innerText();
  note(`  Alex's joined card: ${JSON.stringify(joined)}`);
  for (const line of [QUESTION, DETAIL, WHILE_WAITING]) {
    if (!joined.includes(line)) failures.push(`Alex's joined card lacks: ${line}`);
  }
  await screenshot(ALEX, "accepted");
  await screenshot(ADELE, "taken-by-alex");
  await screenshot(GUEST, "alex-joined");

  note("step 6: messages go both ways, with names, as typed");
  before = await mark();
  await type(ALEX, ALEX_SAYS);
  await expectNew(GUEST, `${ALEX.name}: ${ALEX_SAYS}`, before);
  before = await mark();
  await type(GUEST, GUEST_SAYS);
  await expectNew(ALEX, `${GUEST.name}: ${GUEST_SAYS}`, before);
  await settle();
  await expectAbsent(ADELE, GUEST_SAYS);
  await screenshot(GUEST, "relay");
  await screenshot(ALEX, "relay");

  note("step 7: Alex keeps a note for colleagues; the guest never sees it");
  before = await mark();
  await type(ALEX, `note ${ALEX_NOTE}`);
  await expectNew(ALEX, "Note kept; the guest doesn't see it.", before);
  await settle();
  await expectAbsent(GUEST, ALEX_NOTE);

  note("step 8: Alex ends the chat with notes; HR's pipeline goes on with the guest");
  before = await mark();
  await click(ALEX, "End chat", { card: "You're chatting with" });
  await expectNew(ALEX, `End the chat with ${GUEST.name} (Human Resources)`, before);
  await settle();
  const resolution = cardWith(ALEX, "End the chat with");
  await resolution.getByText("Yes, resolved").click();
  await resolution.locator("textarea").fill(NOTES);
  await screenshot(ALEX, "resolution-card");
  before = await mark();
  await click(ALEX, "End chat", { card: "End the chat with" });
  await expectNew(ALEX, `Closed the chat with ${GUEST.name}.`, before);
  await expectNew(GUEST, `${ALEX.name} has closed the chat`, before);
  await expectNew(GUEST, "Before you go: how did we do?", before);
  await settle();
  await screenshot(ALEX, "ended");
  await screenshot(GUEST, "alex-closed-rating");
  before = await mark();
  await click(GUEST, "5 ★");
  await expectNew(GUEST, `Thanks ${GUEST.given}. HR has your request`, before);
  await settle();

  note("step 9: the guest comes back to the Help Desk and asks for someone");
  before = await mark();
  await type(GUEST, QUESTION_2);
  await expectNew(GUEST, "Which team should take this?", before);
  await settle();
  before = await mark();
  await click(GUEST, "Talk to someone", { card: "Which team should take this?" });
  await expectNew(GUEST, "Finding someone from Help Desk for you", before);
  for (const agent of [ALEX, ADELE]) {
    await expectNew(agent, `${GUEST.name} is waiting for Help Desk`, before);
  }
  await settle();
  await screenshot(ALEX, "offer-help-desk");

  note("step 10: Adele accepts this time; Alex's offer becomes 'Taken by Adele Vance'");
  before = await mark();
  await click(ADELE, "Accept", { card: "is waiting for Help Desk" });
  await expectNew(GUEST, `${ADELE.name} from Help Desk has joined`, before);
  await expectNew(ADELE, `You're chatting with ${GUEST.name} (chat 1)`, before);
  await expectNew(ALEX, `Taken by ${ADELE.name}`, before);
  before = await mark();
  await type(ADELE, ADELE_SAYS);
  await expectNew(GUEST, `${ADELE.name}: ${ADELE_SAYS}`, before);
  before = await mark();
  await type(GUEST, "OK, thanks");
  await expectNew(ADELE, `${GUEST.name}: OK, thanks`, before);
  await settle();
  await screenshot(ALEX, "taken-by-adele");

  note("step 11: Adele transfers the chat to HR");
  before = await mark();
  await type(ADELE, "transfer hr");
  await expectNew(ADELE, "Transferred to Human Resources; you're no longer in the chat.", before);
  await expectNew(GUEST, "You're now with Human Resources", before);
  await expectNew(GUEST, `Help Desk sent you over with your question: "${QUESTION_2}"`, before);
  await expectNew(GUEST, "Is this about leave, pay, or something else?", before);
  await settle();
  await screenshot(ADELE, "transferred");
  await screenshot(GUEST, "transferred-to-hr");

  note("step 12: in HR the guest asks for a person by typing it; Alex joins and sees the chat so far");
  before = await mark();
  await type(GUEST, DETAIL_2);
  await expectNew(GUEST, "Anything else before we close?", before);
  await settle();
  before = await mark();
  await type(GUEST, PERSON);
  await expectNew(GUEST, "Finding someone from Human Resources for you", before);
  await expectNew(ALEX, `${GUEST.name} is waiting for Human Resources`, before);
  await expectNew(ADELE, `${GUEST.name} is waiting for Human Resources`, before);
  await settle();
  before = await mark();
  await click(ALEX, "Accept", { card: "is waiting for Human Resources" });
  await expectNew(GUEST, `${ALEX.name} from Human Resources has joined`, before);
  await expectNew(ALEX, `You're chatting with ${GUEST.name} (chat 1)`, before);
  await expectNew(ADELE, `Taken by ${ALEX.name}`, before);
  await settle();
  const history = await cardWith(ALEX, "You're chatting with").innerText();
  note(`  Alex's joined card: ${JSON.stringify(history)}`);
  for (const line of [`Help Desk · ${GUEST.name}: OK, thanks`, `Human Resources · ${GUEST.name}: ${DETAIL_2}`]) {
    if (!history.includes(line)) failures.push(`Alex's joined card lacks: ${line}`);
  }
  await screenshot(ALEX, "joined-after-transfer");

  note("step 13: the guest ends the chat; Alex is told");
  before = await mark();
  await type(GUEST, "end chat");
  await expectNew(ALEX, `${GUEST.name} left the chat`, before);
  await settle();
  await screenshot(GUEST, "ended");
  await screenshot(ALEX, "guest-left");

  note("step 14: what the bot's store says");
  const exported = exportOfGuestChat();
  if (exported) {
    const sessions = exported.sessions ?? [];
    // The chat id is the Playground's for ever: an earlier run's sessions are there too.
    const withNotes = sessions.filter((s) => s.metadata?.["Session.Status.ResolutionNotes"] === NOTES).at(-1);
    if (withNotes === undefined) {
      failures.push("the store has no session with the notes");
    } else {
      const m = withNotes.metadata;
      note(
        `  HR session ${withNotes.id}: IsResolved=${m["Session.Status.IsResolved"]},` +
          ` ResolvedByAgentName=${m["Session.Status.ResolvedByAgentName"]}, ResolvedByType=${m["Session.Status.ResolvedByType"]}`,
      );
      if (m["Session.Status.IsResolved"] !== true) failures.push("the notes' session is not resolved");
      if (m["Session.Status.ResolvedByAgentName"] !== ALEX.name) failures.push("not resolved by Alex");
    }
    const transferred = sessions.filter((s) => s.metadata?.["Session.TransferredBy.AgentName"] === ADELE.name);
    note(`  sessions marked transferred by Adele: ${transferred.map((s) => `${s.tenant} (${s.state})`).join(", ")}`);
    if (!transferred.some((s) => s.tenant === "helpdesk") || !transferred.some((s) => s.tenant === "hr")) {
      failures.push("the transfer by Adele is not on both sessions");
    }
  }
} catch (error) {
  note(`FAILED: ${error.message}`);
  for (const person of PEOPLE) await screenshot(person, "failure").catch(() => {});
  process.exitCode = 1;
} finally {
  for (const person of PEOPLE) {
    const body = await bodyText(person).catch(() => "");
    writeFileSync(join(SHOTS, `page-text-${person.who}.txt`), body);
  }
  note(failures.length ? `${failures.length} expectation(s) failed:\n  ${failures.join("\n  ")}` : "all expectations met");
  if (failures.length) process.exitCode = 1;
  note(`page texts: ${join(SHOTS, "page-text-*.txt")}`);
  writeFileSync(join(SHOTS, "run.log"), log.join("\n") + "\n");
  await browser.close();
}
