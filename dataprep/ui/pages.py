"""HTML for every page of ``dataprep ui``: pure functions from a page's dict (``data``,
``folder``, ``template``) to text. No template engine, no script from elsewhere: one
small stylesheet and one small script, both shipped in the package (``static/``).

Every value shown is escaped here; every link is built by ``url``.

>>> url("/file/0", rel="a b.jsonl", page=2)
'/file/0?rel=a+b.jsonl&page=2'
>>> "&lt;b&gt;" in tokens([{"id": 1, "text": "<b>", "trained": True}])
True
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

import orjson


def url(path: str, **query: Any) -> str:
    """``path`` with the query parameters that are not None."""
    q = {k: v for k, v in query.items() if v is not None}
    return path + ("?" + urlencode(q) if q else "")


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def layout(title: str, body: str, *, json_url: str | None = None, crumbs: str = "") -> str:
    json_link = f'<a class="json" href="{e(json_url)}">JSON</a>' if json_url else ""
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · dataprep ui</title>"
        '<link rel=icon href="data:,">'
        '<link rel=stylesheet href="/static/app.css"></head><body>'
        f'<header><a class=brand href="/">dataprep ui</a>{crumbs}{json_link}</header>'
        f"<main><h1>{e(title)}</h1>{body}</main>"
        '<script src="/static/app.js"></script></body></html>'
    )


def pretty(value: Any) -> str:
    """A value as indented JSON, escaped."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                            default=str).decode()  # fmt: skip
    except TypeError:
        text = repr(value)
    return f"<pre class=json>{e(text)}</pre>"


def table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """Cells are HTML already (escape what needs it before)."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def num(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else e(n)


def pct(x: Any) -> str:
    return "-" if x is None else f"{x:.1%}"


def tokens(toks: list[dict[str, Any]]) -> str:
    """Tokens as spans: trained ones highlighted; each names its position and id."""
    out = []
    for pos, t in enumerate(toks):
        cls = "tok trained" if t["trained"] else "tok"
        out.append(
            f'<span class="{cls}" data-pos={pos} data-id={int(t["id"])} '
            f'title="#{pos} id {int(t["id"])}{" trained" if t["trained"] else ""}">'
            f"{e(t['text'])}</span>"
        )
    return '<div class="tokens">' + "".join(out) + "</div>"


def histogram_svg(hist: dict[str, Any], label: str, *, percent: bool = False) -> str:
    """A histogram as an inline SVG bar chart (no script, no library)."""
    counts, edges = hist.get("counts") or [], hist.get("edges") or []
    if not counts:
        return f"<p class=muted>{e(label)}: no data</p>"
    w, h, pad = 560, 180, 28
    top = max(counts) or 1
    bw = (w - 2 * pad) / len(counts)
    bars = []
    for i, c in enumerate(counts):
        bh = (h - 2 * pad) * c / top
        lo, hi = edges[i], edges[i + 1]
        span = f"{lo:.0%}–{hi:.0%}" if percent else f"{lo:,.0f}–{hi:,.0f}"
        bars.append(
            f'<rect x="{pad + i * bw:.1f}" y="{h - pad - bh:.1f}" width="{max(bw - 1, 1):.1f}" '
            f'height="{bh:.1f}"><title>{e(span)}: {c:,}</title></rect>'
        )
    first = f"{edges[0]:.0%}" if percent else f"{edges[0]:,.0f}"
    last = f"{edges[-1]:.0%}" if percent else f"{edges[-1]:,.0f}"
    return (
        f'<figure class=chart><svg viewBox="0 0 {w} {h}" role=img aria-label="{e(label)}">'
        + "".join(bars)
        + f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" class=axis />'
        f'<text x="{pad}" y="{h - 8}">{first}</text>'
        f'<text x="{w - pad}" y="{h - 8}" text-anchor=end>{last}</text>'
        f'<text x="{pad}" y="14">{top:,}</text></svg>'
        f"<figcaption>{e(label)}</figcaption></figure>"
    )


def pager(base: str, page: int, pages: int | None, **query: Any) -> str:
    prev = (f'<a rel=prev href="{e(url(base, page=page - 1, **query))}">← previous</a>'
            if page > 0 else "<span class=muted>← previous</span>")  # fmt: skip
    has_next = pages is None or page + 1 < pages
    nxt = (f'<a rel=next href="{e(url(base, page=page + 1, **query))}">next →</a>'
           if has_next else "<span class=muted>next →</span>")  # fmt: skip
    of = f" of {pages:,}" if pages is not None else ""
    return f"<nav class=pager>{prev} <span>page {page + 1:,}{of}</span> {nxt}</nav>"


# --- pages -------------------------------------------------------------------------------

KIND_WORDS = {
    "file": "data file",
    "prepared": "prepared folder",
    "recipe": "recipe",
    "tokenizer": "tokenizer",
    "folder": "folder",
}


def links_of(entry: dict[str, Any]) -> str:
    n, kind = entry["number"], entry["kind"]
    links = {
        "file": [(f"/file/{n}", "rows")],
        "prepared": [(f"/prepared/{n}", "summary"), (f"/prepared/{n}/row", "rows"),
                     (f"/prepared/{n}/rejects", "rejects"), (f"/template/{n}", "template check")],
        "recipe": [(f"/recipe/{n}", "sources")],
        "tokenizer": [(f"/template/{n}", "template check")],
        "folder": [(f"/folder/{n}", "files")],
    }[kind]  # fmt: skip
    return " · ".join(f'<a href="{e(href)}">{e(text)}</a>' for href, text in links)


def home(d: dict[str, Any]) -> str:
    rows = [[str(i["number"]), f"<code>{e(i['path'])}</code>", e(KIND_WORDS[i["kind"]]),
             links_of(i)] for i in d["inputs"]]  # fmt: skip
    body = table(["#", "path", "what it is", "pages"], rows, "inputs")
    return layout("Inputs", body, json_url="/api/")


def folder_page(d: dict[str, Any]) -> str:
    n = d["input"]["number"]
    items = "".join(
        f'<li><a href="{e(url(f"/file/{n}", rel=rel))}"><code>{e(rel)}</code></a></li>'
        for rel in d["files"]
    )
    body = f"<ul class=files>{items}</ul>" if items else "<p>No files.</p>"
    return layout(d["input"]["path"], body, json_url=url(f"/api/folder/{n}"))


def recipe_page(d: dict[str, Any]) -> str:
    n = d["input"]["number"]
    rows = []
    for s in d["sources"]:
        mapping = ", ".join(f"{k}={v}" for k, v in {**s["fields"], **s["roles"]}.items())
        rows.append([
            f'<a href="{e(url(f"/file/{n}", source=s["source"]))}">{e(s["name"])}</a>',
            e(s["format"] or "by its rows"), e(s["amount"]) + (" (eval)" if s["eval"] else ""),
            e(mapping or "-"), f"<code>{e(s['where'])}</code>",
        ])  # fmt: skip
    body = f"<p>{e(d['what'])}: {len(d['sources'])} sources.</p>" + table(
        ["source", "format", "amount", "mapping", "declared at"], rows
    )
    if d["report"]:
        body += "<h2>Mapping report</h2><pre>" + e("\n".join(d["report"])) + "</pre>"
    return layout(d["input"]["path"], body, json_url=f"/api/recipe/{n}")


def _detection(det: dict[str, Any] | None, notes: list[str]) -> str:
    if not det:
        return ""
    parts = [f"<p class=verdict><b>{e(det['message'])}</b></p>"]
    for note in notes:
        parts.append(f"<p class=note>note: {e(note)}</p>")
    if det.get("kinds"):
        rows = [[e(k), num(c), e(", ".join(map(str, det["lines"].get(k, []))))]
                for k, c in det["kinds"].items()]  # fmt: skip
        parts.append(table(["rows read as", "rows", "first lines"], rows, "evidence"))
    for name, reasons in (det.get("evidence") or {}).items():
        said = ", ".join(f"{w} ({n})" for w, n in reasons.items())
        parts.append(f"<p>why {e(name)}: {e(said)}</p>")
    if det.get("keys"):
        keys = ", ".join(f"{k} ({n:,})" for k, n in list(det["keys"].items())[:20])
        parts.append(f"<p class=keys>keys: {e(keys)}</p>")
    if det.get("hint"):
        parts.append(f"<p>try: <code>{e(det['hint'])}</code></p>")
    for p in det.get("file_problems") or []:
        parts.append(f"<p class=bad>{e(p)}</p>")
    return "<section class=detection><h2>Format</h2>" + "".join(parts) + "</section>"


def file_page(d: dict[str, Any]) -> str:
    n, q = d["input"], d["query"]
    base = f"/file/{n}"
    scan, paging = d["scan"], d["paging"]
    running = scan["validation"] == "running" or (scan["index"] and not scan["index"]["done"])
    status = []
    if scan["index"]:
        ix = scan["index"]
        status.append(f"index: {ix['rows']:,} rows" + ("" if ix["done"] else
                      f" so far ({ix['bytes'] / max(ix['size'], 1):.0%} read)"))  # fmt: skip
    status.append({"running": "validating…", "done": "validated",
                   "failed": f"validation failed: {scan['error']}"}[scan["validation"]])  # fmt: skip
    ra = d["read_as"]
    read = f"read as {ra['kind']}" + (f", {ra['compression']}" if ra["compression"] else "")
    read += "" if ra["encoding"] == "utf-8" else f", {ra['encoding']}"
    status_url = url(f"/api/scan/{n}", **q)
    head = (
        f"<p id=scan class=status data-running={'1' if running else '0'} "
        f'data-status="{e(status_url)}">{e(read)} · {e(" · ".join(status))}</p>'
    )
    body = [head]
    if d["forced_format"] or d["mapping"]["fields"] or d["mapping"]["roles"]:
        m = {**d["mapping"]["fields"], **d["mapping"]["roles"]}
        body.append(f"<p class=note>read as {e(d['forced_format'] or 'its rows show')}"
                    + (f" with {e(', '.join(f'{k}={v}' for k, v in m.items()))}" if m else "")
                    + " (the recipe's source)</p>")  # fmt: skip
    body.append(_detection(d["detection"], d["file_notes"]))
    body.append(_problems(d, base, q))
    total = paging["total"]
    shown = f"rows {paging['first'] + 1:,}–{paging['first'] + paging['shown']:,}"
    shown += f" of {total:,}" if total is not None else " (counting…)"
    pg = pager(base, paging["page"], paging["pages"], size=paging["size"], **q)
    body.append(f"<section class=rows><h2>Rows</h2><p>{shown}</p>{pg}")
    for r in d["rows"]:
        body.append(_row(r, paging["line"]))
    if not d["rows"]:
        body.append("<p class=muted>No rows on this page.</p>")
    body.append(pg + "</section>")
    json_url = url(f"/api/file/{n}", page=paging["page"], size=paging["size"], **q)
    return layout(d["file"], "".join(body), json_url=json_url)


def _problems(d: dict[str, Any], base: str, q: dict[str, Any]) -> str:
    p = d["problems"]
    if p["errors"] is None:
        return "<section class=problems><h2>Problems</h2><p class=muted>validating…</p></section>"
    if not p["counts"]:
        return "<section class=problems><h2>Problems</h2><p class=good>none</p></section>"
    codes = " ".join(
        f'<a class="code{" on" if c == p["code"] else ""}" '
        f'href="{e(url(base, code=None if c == p["code"] else c, **q))}">{e(c)} {n:,}</a>'
        for c, n in p["counts"].items()
    )
    items = "".join(
        f'<li class="{e(x["severity"])}"><a href="{e(url(base, line=x["line"], **q))}#line-{x["line"]}">'
        f"line {x['line']:,}</a> <code>{e(x['path'])}</code> {e(x['message'])} "
        f"<span class=tag>[{e(x['code'])}]</span></li>"
        for x in p["listed"]
    )
    note = f"{p['errors']:,} errors, {p['warnings']:,} warnings"
    if p["matching"] > len(p["listed"]) or p["kept"] < (p["errors"] + p["warnings"]):
        note += f"; listed: the first {len(p['listed']):,} of the {p['kept']:,} kept"
    return (f"<section class=problems><h2>Problems</h2><p>{note}. Filter by code: {codes}</p>"
            f"<ol class=problem-list>{items}</ol></section>")  # fmt: skip


def _row(r: dict[str, Any], line: int | None) -> str:
    here = " here" if line is not None and r["line"] == line else ""
    bad = " bad" if r.get("error") or any(p["severity"] == "error" for p in r["problems"]) else ""
    parts = [f'<article class="row{bad}{here}" id="line-{r["line"]}">'
             f'<h3>line {r["line"]:,}' + (f' · {e(r["format"])}' if r.get("format") else "")
             + "</h3>"]  # fmt: skip
    for p in r["problems"]:
        parts.append(f'<p class="problem {e(p["severity"])}"><code>{e(p["path"])}</code> '
                     f'{e(p["message"])} <span class=tag>[{e(p["code"])}]</span></p>')  # fmt: skip
    if r.get("error"):
        err = r["error"]
        parts.append(f'<p class="problem error">{e(err["message"])} '
                     f'<span class=tag>[{e(err["code"])}]</span></p>')  # fmt: skip
    if "canonical" in r:
        parts.append("<div class=canonical>" + _conversation(r["canonical"]) + "</div>")
    if "value" in r:
        parts.append(
            "<details><summary>the row as read</summary>" + pretty(r["value"]) + "</details>"
        )
    elif r.get("raw") is not None:
        parts.append(f"<pre class=raw>{e(r['raw'])}</pre>")
    parts.append("</article>")
    return "".join(parts)


def _conversation(c: dict[str, Any]) -> str:
    """A canonical example: its messages as turns (preference and KTO: each part)."""
    parts = []
    if c["type"] == "Conversation":
        groups = [("", c.get("messages", []))]
    elif c["type"] == "Preference":
        groups = [("prompt", c.get("prompt", [])), ("chosen", c.get("chosen", [])),
                  ("rejected", c.get("rejected", []))]  # fmt: skip
    else:
        judged = "desirable" if c.get("label") else "undesirable"
        groups = [
            ("prompt", c.get("prompt", [])),
            (f"completion ({judged})", c.get("completion", [])),
        ]
    for name, messages in groups:
        if name:
            parts.append(f"<h4>{e(name)}</h4>")
        for m in messages:
            extra = {k: v for k, v in m.items() if k not in ("role", "content")}
            parts.append(
                f'<div class="msg {e(m.get("role", ""))}"><span class=role>{e(m.get("role", ""))}</span>'
                f"<div class=content>{e(m.get('content') or '')}</div>"
                + (pretty(extra) if extra else "") + "</div>"
            )  # fmt: skip
    rest = {k: v for k, v in c.items() if k not in ("type", "messages", "prompt", "chosen",
                                                    "rejected", "completion", "label")}  # fmt: skip
    if rest:
        parts.append(pretty(rest))
    return "".join(parts)


def prepared_page(d: dict[str, Any]) -> str:
    n = d["input"]["number"]
    counts = d["counts"] or {}
    rejected = counts.get("rejected") or {}
    facts = [
        ("kind", e(d["kind"])),
        ("tokenizer", f"<code>{e(d['tokenizer'])}</code> · <a href=\"/template/{n}\">template check</a>"),
        ("chat template", e((d["chat_template"] or {}).get("name", "-"))),
        ("mask", e(d["mask"])),
        ("max length", num(d["max_length"]) + f" ({e(d['length_policy'])})"),
        ("packing", "yes" if d["packing"] else "no"),
        ("rows", f"{num(counts.get('rows_in', '-'))} in, {num(counts.get('rows_out', '-'))} out, "
                 f"{num(counts.get('rows_rejected', 0))} rejected"),
        ("rejected by reason", ", ".join(
            f'<a href="{e(url(f"/prepared/{n}/rejects", reason=c))}">{e(c)} {k:,}</a>'
            for c, k in rejected.items()) or "none"),
        ("tokens", f"{num((d['tokens'] or {}).get('total', '-'))}, "
                   f"{num((d['tokens'] or {}).get('trainable', '-'))} trained"),
        ("trainable share", pct(d["trainable_share"])),
        ("packing efficiency", pct(d["packing_efficiency"])),
    ]  # fmt: skip
    body = [table(["", ""], [[f"<b>{k}</b>", v] for k, v in facts], "facts")]
    body.append(
        f'<form class=search action="/prepared/{n}/search"><input name=q placeholder="search the '
        "rows' text\" aria-label=search> <button>search</button></form>"
    )
    inputs = [[f"<code>{e(i['path'])}</code>", e(i.get("format")), e(i.get("detected")),
               num(i.get("bytes"))] for i in d["inputs"]]  # fmt: skip
    body.append("<h2>Inputs</h2>" + table(["file", "format", "detected", "bytes"], inputs))
    if d["sources"]:
        rows = [[e(s["name"]), e(s.get("format")), e(s.get("amount")), num(s["rows_read"]),
                 num(s["rows_out"]), num(s["rows_rejected"]), num(s["tokens"]),
                 pct(s["share"])] for s in d["sources"]]  # fmt: skip
        body.append(
            "<h2>Sources</h2>"
            + table(
                ["source", "format", "amount", "read", "out", "rejected", "tokens", "share"], rows
            )
        )
    for name, s in d["splits"].items():
        body.append(
            f"<h2>{e(name)} split</h2><p>{num(s['rows'])} rows"
            + (f", {num(s['documents'])} documents" if "documents" in s else "")
            + f", trainable share {pct(s.get('trainable_share'))} · "
            f'<a href="{e(url(f"/prepared/{n}/row", split=name))}">see the rows</a></p>'
        )
        unit = "tokens per document" if "documents" in s else "tokens per row"
        body.append("<div class=charts>"
                    + histogram_svg(s["length_histogram"], f"{name}: length ({unit})")
                    + histogram_svg(s["trainable_share_histogram"],
                                    f"{name}: trainable share per {unit.split(' per ')[1]}",
                                    percent=True) + "</div>")  # fmt: skip
    for note in d["notes"]:
        body.append(f"<p class=note>note: {e(note)}</p>")
    body.append(
        "<details><summary>the manifest (dataprep.json)</summary>"
        + pretty(d["manifest"])
        + "</details>"
    )
    return layout(d["input"]["path"], "".join(body), json_url=f"/api/prepared/{n}")


def row_page(d: dict[str, Any]) -> str:
    n, split, i = d["input"], d["split"], d["row"]
    base = f"/prepared/{n}/row"
    prev = (f'<a rel=prev href="{e(url(base, split=split, n=i - 1))}">← row {i - 1:,}</a>'
            if i > 0 else "<span class=muted>← previous</span>")  # fmt: skip
    nxt = (f'<a rel=next href="{e(url(base, split=split, n=i + 1))}">row {i + 1:,} →</a>'
           if i + 1 < d["rows"] else "<span class=muted>next →</span>")  # fmt: skip
    splits = " ".join(
        f'<a href="{e(url(base, split=s))}">{e(s)}</a>' if s != split else f"<b>{e(s)}</b>"
        for s in d["splits"]
    )
    goto = (f'<form class=goto action="{base}"><input type=hidden name=split value="{e(split)}">'
            f'<input name=n type=number min=0 max={d["rows"] - 1} value={i} aria-label=row> '
            "<button>go</button></form>")  # fmt: skip
    body = [f"<nav class=pager>{prev} <span>row {i:,} of {d['rows']:,} ({splits})</span> {nxt} {goto}</nav>",
            f"<p>{d['tokens']:,} tokens, <span class=trained>{d['trained']:,} trained</span> "
            "(highlighted); hover a token for its id.</p>"]  # fmt: skip
    for doc in d["documents"]:
        trained = sum(t["trained"] for t in doc["tokens"])
        label = doc.get("part") or f"document {doc['doc']}"
        if doc.get("source"):
            label += f" · from {doc['source']}"
        body.append(f'<section class=doc data-doc={doc["doc"]}><h3>{e(label)} · '
                    f'{len(doc["tokens"]):,} tokens · {trained:,} trained</h3>'
                    + tokens(doc["tokens"]) + "</section>")  # fmt: skip
    title = f"{d['split']} row {i}"
    return layout(title, "".join(body), json_url=url(f"/api{base}", split=split, n=i))


def search_page(d: dict[str, Any]) -> str:
    n = d["input"]
    base = f"/prepared/{n}/search"
    form = (f'<form class=search action="{base}"><input name=q value="{e(d["query"])}" '
            f'aria-label=search> <input type=hidden name=split value="{e(d["split"])}"> '
            "<button>search</button></form>")  # fmt: skip
    items = []
    for h in d["hits"]:
        s, at = h["snippet"], h["at"]
        mark = (
            e(s[:at])
            + "<mark>"
            + e(s[at : at + len(d["query"])])
            + "</mark>"
            + e(s[at + len(d["query"]) :])
        )
        link = url(f"/prepared/{n}/row", split=d["split"], n=h["row"])
        items.append(
            f'<li><a href="{e(link)}">row {h["row"]:,}</a> <span class=snippet>…{mark}…</span></li>'
        )
    body = (
        form
        + f"<p>{len(d['hits'])} rows found in rows {d['start']:,}–{d['start'] + d['searched']:,} of {d['rows']:,}.</p>"
    )
    body += "<ol class=hits>" + "".join(items) + "</ol>"
    if d["next"] is not None:
        body += f'<p><a href="{e(url(base, q=d["query"], split=d["split"], start=d["next"]))}">search on from row {d["next"]:,}</a></p>'
    return layout(f"Search: {d['query']}", body,
                  json_url=url(f"/api{base}", q=d["query"], split=d["split"], start=d["start"]))  # fmt: skip


def rejects_page(d: dict[str, Any]) -> str:
    n = d["input"]
    base = f"/prepared/{n}/rejects"
    codes = (
        " ".join(
            f'<a class="code{" on" if c == d["reason"] else ""}" href="{e(url(base, reason=c))}">{e(c)} {k:,}</a>'
            for c, k in d["counts"].items()
        )
        or "none"
    )
    body = [f"<p>Rejected rows by reason: {codes}</p>"]
    if d["reason"]:
        body.append(pager(base, d["page_number"], d["pages"] or 1, reason=d["reason"]))
    for r in d["items"]:
        where = f"{e(r.get('source'))}:{e(r.get('line'))}"
        link = r.get("link")
        if link:
            href = url(f"/file/{link['input']}", rel=link.get("rel"), line=link["line"])
            where = f'<a href="{e(href)}#line-{link["line"]}">{where}</a>'
        body.append(f'<article class="row bad"><h3>{where}</h3><p class="problem error">'
                    f'{e(r.get("message"))} <span class=tag>[{e(r.get("code"))}]</span></p>'
                    + pretty(r.get("row")) + "</article>")  # fmt: skip
    return layout(
        "Rejects",
        "".join(body),
        json_url=url(f"/api{base}", reason=d["reason"], page=d["page_number"]),
    )


def template_page(d: dict[str, Any]) -> str:
    r = d["report"]
    masks, turns, bos, thinking = r["masks"], r["turns"], r["bos"], r["thinking"]
    verdict = ("<p class=good><b>masks verified</b></p>" if r["ok"]
               else "<p class=bad><b>MASKS COULD BE WRONG</b>: prepare refuses this template</p>")  # fmt: skip
    facts = [
        ("tokenizer", f"<code>{e(d['tokenizer'])}</code>"),
        ("chat template", f"{e(r['template']['name'])} <code class=muted>{e(r['template']['sha256'][:12])}</code>"),
        ("span method", f"{e(masks['method'])}: {e(masks['why'])}"),
        ("agreement", e(", ".join(f"{m} {k}/{masks['probes']} probes" for m, k in masks["agreeing"].items()) or "-")),
        ("generation prompt", f"<code>{e(repr(turns['generation_prompt']))}</code>"),
        ("assistant headers", f"<code>{e(', '.join(map(repr, turns['headers'])) or 'none')}</code>"),
        ("end of turn", f"<code>{e(', '.join(map(repr, turns['end_of_turn'])) or 'none')}</code>"),
        ("BOS", e(f"{bos['token']!r}: rows start with {bos['rows_start_with']}")),
        ("empty think block", e(thinking["empty_block"])),
        ("tool calls", e(r["tool_calls"])),
    ]  # fmt: skip
    body = [verdict, table(["", ""], [[f"<b>{k}</b>", v] for k, v in facts], "facts")]
    for p in masks["problems"]:
        body.append(f"<p class=bad>problem: {e(p)}</p>")
    for w in r["warnings"]:
        body.append(f"<p class=warning>warning: {e(w)}</p>")
    for note in r["notes"]:
        body.append(f"<p class=note>note: {e(note)}</p>")
    ex = r.get("example")
    if ex:
        trained = sum(t["trained"] for t in ex["tokens"])
        body.append(f"<h2>The probe conversation</h2><p>{len(ex['tokens']):,} tokens, "
                    f"<span class=trained>{trained:,} trained</span> (highlighted).</p>"
                    + tokens(ex["tokens"]))  # fmt: skip
    return layout("Template check", "".join(body), json_url=f"/api/template/{d['input']['number']}")


def error_page(status: int, message: str) -> str:
    what = {403: "Refused", 404: "Not found", 500: "Something went wrong"}.get(
        status, "Cannot show this"
    )
    body = f'<p class="error-message">{e(message)}</p><p><a href="/">back to the inputs</a></p>'
    return layout(f"{what} ({status})", body)


PAGES = {
    "home": home,
    "folder": folder_page,
    "recipe": recipe_page,
    "file": file_page,
    "prepared": prepared_page,
    "row": row_page,
    "search": search_page,
    "rejects": rejects_page,
    "template": template_page,
}


def render(d: dict[str, Any]) -> str:
    """The HTML of a page's dict."""
    return PAGES[d["page"]](d)
