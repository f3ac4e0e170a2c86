/**
 * The dashboard page's code (bundled by `build.ts`, served by `routes/Dashboard.ts`): polls GET /stats, /topics,
 * /consumers and /health every second, charts the ingest and processing rates over the last five minutes with
 * uPlot, and tails a chosen topic through @agg/client's `subscribe` (GET /events/stream read with fetch, so the
 * bearer header can be sent). With keys configured (`data-auth="required"` on the page) it asks for one and keeps
 * it in sessionStorage for the tab's life; every data call carries it as `Authorization: Bearer`.
 *
 * Deliberately no framework and no state beyond what is shown: each poll replaces the figures. Elements the
 * browser test reads carry `data-*` attributes (`data-stat`, the chart's `data-points`).
 */
import { ClientError, createClient, type StatsBody, type StoredEvent } from "@agg/client"
import { ConsumersBody, checkResponse, type HealthBody, TopicsPage } from "@agg/schema"
import uPlot from "uplot"
import "uplot/dist/uPlot.min.css"
import "./style.css"

const KEY_STORAGE = "agg.apiKey"
const POLL_MS = 1000
const WINDOW_POINTS = 300 // five minutes at one poll a second
const TAIL_ROWS = 50
const LISTED_TOPICS = 100
const LIST_ROWS = 20

type Client = ReturnType<typeof createClient>

// ---- DOM helpers -------------------------------------------------------------------------------------------

type Child = Node | string
const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string>> = {},
  ...children: ReadonlyArray<Child>
): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value)
  el.append(...children)
  return el
}
const fmt = (n: number) => n.toLocaleString("en-US")
const ago = (ms: number) =>
  ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`
const timeOf = (iso: string) => new Date(iso).toLocaleTimeString("en-GB", { hour12: false })

// ---- key ---------------------------------------------------------------------------------------------------

const authRequired = document.documentElement.dataset["auth"] === "required"
let apiKey: string | undefined = sessionStorage.getItem(KEY_STORAGE) ?? undefined

const makeClient = (): Client =>
  createClient({
    url: location.origin,
    apiKey,
    // A dashboard polls again in a second: no retries, a short timeout.
    retry: { maxAttempts: 1 },
    timeoutMs: 5000
  })
let client = makeClient()

/** GET a route the client has no method for, with the same key, checked against its schema. */
const getChecked = async <T>(path: string, check: (body: unknown) => T): Promise<T> => {
  const response = await fetch(path, { headers: apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` } })
  if (response.status === 401)
    throw new ClientError({
      status: 401,
      code: "unauthorized",
      message: "unauthorized",
      problems: [],
      attempts: 1,
      retryable: false,
      body: undefined
    })
  if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status}`)
  return check(await response.json())
}
const topicsPage = (after: string) =>
  getChecked(`/topics?limit=${LISTED_TOPICS}${after ? `&after=${encodeURIComponent(after)}` : ""}`, (body) => {
    const checked = checkResponse(TopicsPage, body)
    if (!checked.ok) throw new Error("GET /topics: unexpected answer")
    return checked.value
  })
const consumersBody = () =>
  getChecked("/consumers", (body) => {
    const checked = checkResponse(ConsumersBody, body)
    if (!checked.ok) throw new Error("GET /consumers: unexpected answer")
    return checked.value
  })

const isUnauthorized = (cause: unknown) =>
  cause instanceof ClientError && (cause.status === 401 || cause.status === 403)

// ---- layout ------------------------------------------------------------------------------------------------

const keyInput = h("input", {
  type: "password",
  id: "api-key",
  name: "api-key",
  autocomplete: "off",
  placeholder: "API key"
})
const keyForm = h(
  "form",
  { id: "key-form", class: "panel key" },
  h("label", { for: "api-key" }, "This API needs a key (API_KEYS). It is kept in this tab's sessionStorage only."),
  keyInput,
  h("button", { type: "submit" }, "Use key")
)
const keyNote = h("p", { class: "note", id: "key-note" })
keyForm.append(keyNote)

const status = h("span", { id: "status", class: "badge" }, "…")
const mode = h("span", { id: "mode", class: "badge" })
const uptime = h("span", { id: "uptime", class: "muted" })
const forget = h("button", { type: "button", id: "forget-key", class: "link" }, "forget key")
forget.hidden = apiKey === undefined

const statCard = (key: string, label: string, list?: string) => {
  const value = h("strong", { "data-stat": key }, "–")
  const title = list === undefined ? h("span", {}, label) : h("a", { href: `#${list}`, "data-list": list }, label)
  return h("div", { class: "card" }, title, value)
}
const cards = h(
  "section",
  { class: "cards", id: "cards" },
  statCard("received", "received"),
  statCard("unique_processed", "unique", "events"),
  statCard("duplicate_dropped", "duplicates"),
  statCard("conflicts", "conflicts", "conflicts"),
  statCard("pending", "pending"),
  statCard("lag", "lag"),
  statCard("dead_lettered", "dead letters", "dead-letters"),
  statCard("rate", "events/s")
)

const chartBox = h("div", { id: "chart", "data-points": "0" })
const topicsBody = h("tbody", { id: "topics" })
const topicsTable = h(
  "table",
  {},
  h(
    "thead",
    {},
    h(
      "tr",
      {},
      ...["topic", "unique", "duplicates", "conflicts", "last offset", "last received"].map((t) => h("th", {}, t))
    )
  ),
  topicsBody
)
const consumersBodyEl = h("tbody", { id: "consumers" })
const consumersPanel = h(
  "section",
  { class: "panel", id: "consumers-panel" },
  h("h2", {}, "Consumers"),
  h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ...["name", "pending", "idle", "heartbeat", "partitions"].map((t) => h("th", {}, t)))),
    consumersBodyEl
  )
)
const healthList = h("ul", { id: "health", class: "health" })
const tailSelect = h("select", { id: "tail-topic" }, h("option", { value: "" }, "— choose a topic —"))
const tailState = h("span", { id: "tail-state", class: "muted" })
const tailBody = h("tbody", { id: "tail" })
const listTitle = h("h2", {})
const listPre = h("pre", { id: "list" })
const listPanel = h("section", { class: "panel", id: "list-panel" }, listTitle, listPre)
listPanel.hidden = true
const errorLine = h("p", { id: "error", class: "error" })

const dashboard = h(
  "main",
  { id: "dashboard" },
  cards,
  h("section", { class: "panel wide" }, h("h2", {}, "Ingest rate (events/s, last 5 min)"), chartBox),
  h("section", { class: "panel" }, h("h2", {}, "Topics"), topicsTable),
  consumersPanel,
  h("section", { class: "panel" }, h("h2", {}, "Health"), healthList),
  h(
    "section",
    { class: "panel wide" },
    h("h2", {}, "Live tail ", tailSelect, " ", tailState),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ...["#", "topic", "event_id", "received", "payload"].map((t) => h("th", {}, t)))),
      tailBody
    )
  ),
  listPanel
)

document.body.append(h("header", {}, h("h1", {}, "agg"), status, mode, uptime, forget), errorLine, keyForm, dashboard)

// ---- chart -------------------------------------------------------------------------------------------------

const xs: Array<number> = []
const receivedRate: Array<number> = []
const processedRate: Array<number> = []
const chart = new uPlot(
  {
    width: Math.max(320, chartBox.clientWidth || 900),
    height: 220,
    scales: { x: { time: true } },
    axes: [{}, { size: 60 }],
    series: [
      {},
      { label: "received/s", stroke: "#2563eb", width: 2, fill: "rgba(37,99,235,0.08)" },
      { label: "processed/s", stroke: "#16a34a", width: 2 }
    ]
  },
  [xs, receivedRate, processedRate],
  chartBox
)
new ResizeObserver(() => chart.setSize({ width: Math.max(320, chartBox.clientWidth), height: 220 })).observe(chartBox)

let previous: { readonly t: number; readonly received: number; readonly processed: number } | undefined
const pushRates = (stats: StatsBody) => {
  const t = Date.now() / 1000
  const processed = stats.unique_processed + stats.duplicate_dropped
  if (previous !== undefined && t > previous.t) {
    const dt = t - previous.t
    xs.push(t)
    receivedRate.push(Math.max(0, (stats.received - previous.received) / dt))
    processedRate.push(Math.max(0, (processed - previous.processed) / dt))
    if (xs.length > WINDOW_POINTS) {
      xs.shift()
      receivedRate.shift()
      processedRate.shift()
    }
    chart.setData([xs, receivedRate, processedRate])
    chartBox.dataset["points"] = String(xs.length)
    chartBox.dataset["last"] = String(Math.round(receivedRate.at(-1) ?? 0))
    setStat("rate", Math.round(receivedRate.at(-1) ?? 0))
  }
  previous = { t, received: stats.received, processed }
}

// ---- figures -----------------------------------------------------------------------------------------------

const setStat = (key: string, value: number | undefined) => {
  const el = cards.querySelector<HTMLElement>(`[data-stat="${key}"]`)
  if (el === null) return
  el.textContent = value === undefined ? "–" : fmt(value)
  el.dataset["value"] = value === undefined ? "" : String(value)
}

const lastReceived = new Map<string, { readonly offset: number; readonly at: string }>()
const refreshLastReceived = async (topic: string, offset: number) => {
  if (offset === 0 || lastReceived.get(topic)?.offset === offset) return
  const page = await client.read({ topic, after: offset - 1, limit: 1 })
  const event = page.events[0]
  if (event !== undefined) lastReceived.set(topic, { offset: event.offset, at: event.received_at })
}

const renderTopics = async (page: TopicsPage) => {
  await Promise.all(page.topics.map((t) => refreshLastReceived(t.topic, t.unique_processed).catch(() => undefined)))
  topicsBody.replaceChildren(
    ...page.topics.map((t) => {
      const last = lastReceived.get(t.topic)
      return h(
        "tr",
        { "data-topic": t.topic },
        h("td", {}, t.topic),
        h("td", { class: "num" }, fmt(t.unique_processed)),
        h("td", { class: "num" }, fmt(t.duplicate_dropped)),
        h("td", { class: "num" }, fmt(t.conflicts)),
        // Offsets are gap-free from 1, so the last one is the count of unique events.
        h("td", { class: "num" }, fmt(t.unique_processed)),
        h("td", {}, last === undefined ? "–" : timeOf(last.at))
      )
    })
  )
  const known = new Set([...tailSelect.options].map((o) => o.value))
  for (const t of page.topics) if (!known.has(t.topic)) tailSelect.append(h("option", { value: t.topic }, t.topic))
}

const renderHealth = (health: HealthBody) => {
  status.textContent = health.status
  status.className = `badge ${health.status === "ok" ? "ok" : "bad"}`
  mode.textContent = health.mode
  consumersPanel.hidden = health.mode !== "queued"
  const checks = Object.entries(health.checks).filter(
    (e): e is [string, NonNullable<(typeof e)[1]>] => e[1] !== undefined
  )
  healthList.replaceChildren(
    ...checks.map(([name, check]) =>
      h(
        "li",
        { "data-check": name, class: check.status === "up" ? "ok" : "bad" },
        `${name}: ${check.status}${check.error ? ` (${check.error})` : ""}`
      )
    ),
    ...(health.backlog === undefined
      ? []
      : [
          h(
            "li",
            { "data-check": "backlog", class: health.backlog.accepting ? "ok" : "bad" },
            `backlog: ${health.backlog.size === null ? "?" : fmt(health.backlog.size)} / ${fmt(health.backlog.max)}${health.backlog.accepting ? "" : " (refusing)"}`
          )
        ])
  )
}

const renderConsumers = (body: ConsumersBody) => {
  consumersBodyEl.replaceChildren(
    ...(body.consumers.length === 0
      ? [h("tr", {}, h("td", { colspan: "5", class: "muted" }, "no consumers in the group"))]
      : body.consumers.map((c) =>
          h(
            "tr",
            { "data-consumer": c.name },
            h("td", {}, c.name),
            h("td", { class: "num" }, fmt(c.pending)),
            h("td", { class: "num" }, ago(c.idle_ms)),
            h("td", { class: c.alive ? "ok" : "bad" }, c.alive ? "alive" : "expired"),
            // The count, with the partition numbers on hover: a share of many partitions would not fit the row.
            h("td", { class: "num", title: c.partitions.join(", ") }, String(c.partitions.length))
          )
        ))
  )
}

// ---- polling -----------------------------------------------------------------------------------------------

let locked = false
const showKeyForm = (message: string) => {
  locked = true
  keyForm.hidden = false
  dashboard.hidden = true
  keyNote.textContent = message
}

const poll = async () => {
  // /health needs no key: the dependencies are shown even before one is entered.
  const health = await client.health().catch(() => undefined)
  if (health !== undefined) renderHealth(health)
  else status.textContent = "unreachable"
  if (locked) return
  try {
    const [stats, topics, consumers] = await Promise.all([
      client.stats(),
      topicsPage(""),
      health?.mode === "queued" ? consumersBody() : Promise.resolve(undefined)
    ])
    setStat("received", stats.received)
    setStat("unique_processed", stats.unique_processed)
    setStat("duplicate_dropped", stats.duplicate_dropped)
    setStat("conflicts", stats.conflicts)
    setStat("pending", stats.pending)
    setStat("dead_lettered", stats.dead_lettered)
    uptime.textContent = `up ${ago(stats.uptime_seconds * 1000)}`
    pushRates(stats)
    await renderTopics(topics)
    if (consumers !== undefined) {
      renderConsumers(consumers)
      setStat("lag", Math.max(0, stats.pending - consumers.consumers.reduce((n, c) => n + c.pending, 0)))
    }
    errorLine.textContent = ""
  } catch (cause) {
    if (isUnauthorized(cause)) showKeyForm("The key was refused; enter a valid one.")
    else errorLine.textContent = cause instanceof Error ? cause.message : String(cause)
  }
}

const loop = async () => {
  for (;;) {
    const started = Date.now()
    await poll()
    await new Promise((resolve) => setTimeout(resolve, Math.max(100, POLL_MS - (Date.now() - started))))
  }
}

// ---- live tail ---------------------------------------------------------------------------------------------

let tail: AbortController | undefined
const startTail = async (topic: string) => {
  tail?.abort()
  tailBody.replaceChildren()
  if (topic === "") {
    tailState.textContent = ""
    return
  }
  const controller = new AbortController()
  tail = controller
  // From now on: after the topic's last offset as the table last showed it.
  const row = topicsBody.querySelector<HTMLElement>(`tr[data-topic="${CSS.escape(topic)}"] td:nth-child(5)`)
  const after = Number((row?.textContent ?? "0").replaceAll(",", "")) || 0
  tailState.textContent = "live"
  tailState.dataset["state"] = "live"
  try {
    for await (const event of client.subscribe(topic, { after, signal: controller.signal })) addTailRow(event)
  } catch (cause) {
    if (controller.signal.aborted) return
    if (isUnauthorized(cause)) return showKeyForm("The key was refused; enter a valid one.")
    tailState.textContent = cause instanceof Error ? cause.message : String(cause)
    tailState.dataset["state"] = "failed"
  }
}
const addTailRow = (event: StoredEvent) => {
  const payload = JSON.stringify(event.payload)
  tailBody.prepend(
    h(
      "tr",
      { "data-event": event.event_id },
      h("td", { class: "num" }, String(event.offset)),
      h("td", {}, event.topic),
      h("td", {}, event.event_id),
      h("td", {}, timeOf(event.received_at)),
      h("td", { class: "payload" }, payload.length > 120 ? `${payload.slice(0, 117)}…` : payload)
    )
  )
  while (tailBody.rows.length > TAIL_ROWS) tailBody.deleteRow(-1)
}
tailSelect.addEventListener("change", () => void startTail(tailSelect.value))

// ---- lists behind the cards ----------------------------------------------------------------------------------

const showList = async (list: string) => {
  listPanel.hidden = false
  listTitle.textContent = `GET /${list} (first ${LIST_ROWS})`
  listPre.textContent = "…"
  try {
    const rows =
      list === "conflicts"
        ? (await client.conflicts({ limit: LIST_ROWS })).conflicts
        : list === "dead-letters"
          ? (await client.deadLetters.list({ limit: LIST_ROWS })).dead_letters
          : (await client.read({ limit: LIST_ROWS })).events
    listPre.textContent = rows.length === 0 ? "(none)" : JSON.stringify(rows, null, 2)
  } catch (cause) {
    listPre.textContent = cause instanceof Error ? cause.message : String(cause)
  }
}
cards.addEventListener("click", (e) => {
  const link = (e.target as Element).closest<HTMLAnchorElement>("a[data-list]")
  if (link === null) return
  e.preventDefault()
  void showList(link.dataset["list"]!)
})

// ---- start -------------------------------------------------------------------------------------------------

keyForm.addEventListener("submit", (e) => {
  e.preventDefault()
  const value = keyInput.value.trim()
  if (value === "") return
  apiKey = value
  sessionStorage.setItem(KEY_STORAGE, value)
  keyInput.value = ""
  client = makeClient()
  forget.hidden = false
  locked = false
  keyForm.hidden = true
  dashboard.hidden = false
  void poll()
  if (tailSelect.value !== "") void startTail(tailSelect.value)
})
forget.addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORAGE)
  apiKey = undefined
  client = makeClient()
  tail?.abort()
  forget.hidden = true
  showKeyForm("Key forgotten.")
})

if (authRequired && apiKey === undefined) showKeyForm("")
else keyForm.hidden = true
void loop()
