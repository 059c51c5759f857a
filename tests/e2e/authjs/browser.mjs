// Drives the system Chromium (puppeteer-core: never downloads a browser) for tests/browser.rs.
//
// One JSON command per line on stdin, one JSON answer per line on stdout:
//   {"cmd":"goto","url":...}                 -> {"ok":true,"url","status","chain","text"}
//   {"cmd":"fill","selector","value"}        -> {"ok":true}
//   {"cmd":"click","selector"}               -> like goto (waits for the navigation it starts)
//   {"cmd":"page"}                           -> {"ok":true,"url","text"}
//   {"cmd":"text","selector"}                -> {"ok":true,"text"}
//   {"cmd":"cookies"}                        -> {"ok":true,"cookies":[{name,value,domain,path,secure,httpOnly,sameSite}]}
//   {"cmd":"setCookie","url","name","value"} -> {"ok":true}
//   {"cmd":"artifacts","prefix"}             -> {"ok":true,"screenshot","html"} (prefix + .png/.html)
//   {"cmd":"close"}                          -> {"ok":true}, then exits
// A failed command answers {"ok":false,"error":...}. The first line is {"ready":true,"version"}.
//
// Environment:
//   CHROMIUM          the browser (default /usr/bin/chromium)
//   USER_DATA_DIR     a fresh profile directory (required)
//   IGNORE_CERT_ERRORS=1  accept any certificate (Caddy's `tls internal` CA)
//   STEP_TIMEOUT_MS   per navigation or wait (default 10000)
//   DEADLINE_MS       the whole session; exits when it passes (default 120000)
import { createInterface } from "node:readline"
import { writeFileSync } from "node:fs"
import puppeteer from "puppeteer-core"

const stepTimeout = Number(process.env.STEP_TIMEOUT_MS ?? 10000)
const deadline = setTimeout(() => {
  console.error("browser.mjs: session deadline passed, exiting")
  process.exit(3)
}, Number(process.env.DEADLINE_MS ?? 120000))

if (!process.env.USER_DATA_DIR) throw new Error("USER_DATA_DIR is required")
const args = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  `--user-data-dir=${process.env.USER_DATA_DIR}`,
]
if (process.env.IGNORE_CERT_ERRORS === "1") args.push("--ignore-certificate-errors")

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args,
  acceptInsecureCerts: process.env.IGNORE_CERT_ERRORS === "1",
  timeout: stepTimeout * 2,
})
const page = (await browser.pages())[0] ?? (await browser.newPage())
page.setDefaultTimeout(stepTimeout)
page.setDefaultNavigationTimeout(stepTimeout)

const bodyText = () => page.evaluate(() => document.body?.innerText ?? "")

async function landed(response) {
  return {
    url: page.url(),
    status: response?.status() ?? 0,
    // Every URL the navigation went through, redirects first.
    chain: response ? [...response.request().redirectChain().map((r) => r.url()), response.url()] : [],
    text: await bodyText(),
  }
}

const commands = {
  async goto({ url }) {
    return landed(await page.goto(url, { waitUntil: "load" }))
  },
  async fill({ selector, value }) {
    await page.waitForSelector(selector)
    await page.$eval(selector, (el) => (el.value = ""))
    await page.type(selector, value)
    return {}
  },
  async click({ selector }) {
    await page.waitForSelector(selector)
    const [response] = await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(selector)])
    return landed(response)
  },
  async page() {
    return { url: page.url(), text: await bodyText() }
  },
  async text({ selector }) {
    await page.waitForSelector(selector)
    return { text: await page.$eval(selector, (el) => el.textContent) }
  },
  async cookies() {
    const all = await browser.cookies()
    return {
      cookies: all.map(({ name, value, domain, path, secure, httpOnly, sameSite }) => ({
        name,
        value,
        domain,
        path,
        secure,
        httpOnly,
        sameSite: sameSite ?? "",
      })),
    }
  },
  async setCookie({ url, name, value }) {
    const u = new URL(url)
    await browser.setCookie({ name, value, domain: u.hostname, path: "/", secure: u.protocol === "https:" })
    return {}
  },
  async artifacts({ prefix }) {
    const screenshot = `${prefix}.png`
    const html = `${prefix}.html`
    writeFileSync(html, `<!-- ${page.url()} -->\n${await page.content()}`)
    await page.screenshot({ path: screenshot, fullPage: true })
    return { screenshot, html }
  },
  async close() {
    await browser.close()
    return {}
  },
}

const reply = (obj) => process.stdout.write(JSON.stringify(obj) + "\n")
reply({ ready: true, version: await browser.version() })

// Commands run one after another, in the order they arrive.
let queue = Promise.resolve()
const lines = createInterface({ input: process.stdin })
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let cmd = {}
    try {
      cmd = JSON.parse(line)
      const run = commands[cmd.cmd]
      if (!run) throw new Error(`unknown command ${cmd.cmd}`)
      reply({ ok: true, ...(await run(cmd)) })
    } catch (e) {
      reply({ ok: false, error: `${cmd.cmd ?? "?"}: ${e?.message ?? e}` })
    }
    if (cmd.cmd === "close") {
      clearTimeout(deadline)
      process.exit(0)
    }
  })
})
lines.on("close", () => {
  queue.then(async () => {
    await browser.close().catch(() => {})
    process.exit(0)
  })
})
