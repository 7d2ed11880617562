#!/usr/bin/env python3
"""perf/collect.py RESULTS_DIR: one table out of every step perf/bench.sh ran.

Reads RESULTS_DIR/setup.json and each RESULTS_DIR/<step>.json (a "setup"
object and a "runs" array, the schema every benchmark under perf/ writes),
and writes:

  results.json   {"setup": ..., "steps": {step: {"status", "setup"}}, "runs": [...]}
                 every run tagged with its "step" and a "system" name
  results.csv    the same runs, one line each (scalar fields, memory.* flattened)
  summary.txt    one line per step: its headline figure and its ratio to its limit
  plots/*.dat    the series perf/plot.sh draws (whitespace separated, # header)

A step that was skipped or failed is listed with its status and has no runs.
"""
import csv
import json
import math
import os
import sys

STEP_ORDER = ["storage", "storage-sizes", "storage-shards", "rx", "e2e", "e2e-shards",
              "e2e-sizes", "e2e-lcores", "peers", "http", "http-sizes"]


def num(v):
    """v as a float, or None for missing, null, NaN or text."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return None if (isinstance(v, float) and math.isnan(v)) else float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def system_of(step, r):
    """The name a run is plotted and summarised under."""
    if r.get("peer") and step != "peers":
        return r["peer"]  # e2e.sh's redis-benchmark runs
    if step.startswith("storage"):
        return "sluice storage"
    if step == "rx":
        return "sluice rx"
    if step.startswith("e2e"):
        ack = r.get("ack") or "durable"
        return "sluice UDP" + ("" if ack == "durable" else " (%s acks)" % ack)
    if step == "peers":
        return r.get("peer") or r.get("label") or "peer"
    if step.startswith("http"):
        server = r.get("server") or "?"
        if server == "sluiced":
            ack = r.get("ack") or "durable"
            return "sluice HTTP" + ("" if ack == "durable" else " (%s acks)" % ack)
        return server
    return step


def load(out):
    setup = {}
    try:
        with open(os.path.join(out, "setup.json")) as f:
            setup = json.load(f)
    except (OSError, ValueError):
        pass
    status = {}
    try:
        with open(os.path.join(out, "steps.txt")) as f:
            for line in f:
                p = line.split()
                if len(p) >= 4:
                    status[p[0]] = {"status": p[1], "exit": int(p[2]), "seconds": int(p[3])}
    except OSError:
        pass
    steps, runs = {}, []
    names = [s for s in STEP_ORDER if s in status or os.path.exists(os.path.join(out, s + ".json"))]
    for step in names:
        st = dict(status.get(step, {"status": "ok"}))
        path = os.path.join(out, step + ".json")
        doc = None
        if os.path.exists(path):
            try:
                with open(path) as f:
                    doc = json.load(f)
            except (OSError, ValueError) as e:
                st["status"] = "failed"
                st["error"] = "unreadable %s: %s" % (path, e)
        if doc is not None:
            st["setup"] = doc.get("setup")
            for r in doc.get("runs") or []:
                if not isinstance(r, dict):
                    continue
                r = dict(r)
                if "step" in r:
                    r["run_step"] = r["step"]  # the benchmark's own step name
                r["step"] = step
                r["system"] = system_of(step, r)
                runs.append(r)
        steps[step] = st
    return setup, steps, runs


def flat(r):
    row = {}
    for k, v in r.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                if not isinstance(v2, (dict, list)):
                    row["%s.%s" % (k, k2)] = v2
        elif not isinstance(v, list):
            row[k] = v
    return row


def write_csv(out, runs):
    rows = [flat(r) for r in runs]
    first = ["step", "system", "label", "loop", "record_bytes", "shards", "lcores", "offered_rps",
             "records_per_s", "mb_per_s", "p50_us", "p99_us", "p999_us", "max_us", "ratio"]
    keys = [k for k in first if any(k in r for r in rows)]
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def ok(r):
    return not r.get("skipped") and num(r.get("records_per_s")) is not None


def best(runs, **match):
    c = [r for r in runs if ok(r) and all(r.get(k) == v for k, v in match.items())]
    return max(c, key=lambda r: num(r["records_per_s"]), default=None)


def fmt_rate(v):
    v = num(v)
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2f M/s" % (v / 1e6)
    if v >= 1e3:
        return "%.1f k/s" % (v / 1e3)
    return "%.0f /s" % v


def fmt_us(v):
    v = num(v)
    return "-" if v is None else ("%.2f ms" % (v / 1e3) if v >= 1000 else "%.0f us" % v)


def memory_of(r):
    """sluiced's RSS and mbuf pool use in a run, from the stats file (e2e.sh)
    or /metrics (http_bench.sh), as text; None when the run has neither."""
    m = r.get("memory") if isinstance(r.get("memory"), dict) else {}
    met = r.get("metrics") if isinstance(r.get("metrics"), dict) else {}
    rss = num(m.get("mem_rss_bytes")) or num(m.get("vm_rss_bytes")) or \
        num(met.get("sluice_process_resident_memory_bytes"))
    peak = num(m.get("mem_rss_peak_bytes")) or \
        num(met.get("sluice_process_resident_memory_peak_bytes"))
    used = num(m.get("mempool_in_use"))
    size = num(m.get("mempool_size"))
    for k, v in met.items():
        if k.startswith("sluice_mempool_objects") and 'state="in_use"' in k:
            used = (used or 0) + num(v)
        elif k.startswith("sluice_mempool_size"):
            size = (size or 0) + num(v)
    if rss is None:
        return None
    text = "RSS %.0f MiB" % (rss / 2**20)
    if peak:
        text += " (peak %.0f MiB)" % (peak / 2**20)
    if used is not None and size:
        text += ", mbufs %d of %d in use" % (used, size)
    return text


def summary(steps, runs):
    lines = []
    for step, st in steps.items():
        rs = [r for r in runs if r["step"] == step]
        head = step + ":"
        if st.get("status") != "ok":
            lines.append("%-15s %s" % (head, st.get("status")))
            continue
        closed = [r for r in rs if ok(r) and r.get("loop", "closed") == "closed"]
        text = []
        if step == "peers":
            for sysname in sorted({r["system"] for r in closed}):
                b = best(closed, system=sysname)
                text.append("%s %s" % (sysname, fmt_rate(b["records_per_s"])))
        elif step.startswith("http"):
            for sysname in sorted({r["system"] for r in closed}):
                b = best(closed, system=sysname)
                text.append("%s %s" % (sysname, fmt_rate(b["records_per_s"])))
            s = best(closed, system="sluice HTTP")
            k = best(closed, system="kinesalite")
            if step == "http" and s and k and num(k["records_per_s"]):
                text.append("ratio %.1fx kinesalite" % (num(s["records_per_s"]) / num(k["records_per_s"])))
        else:
            # Durable acks are the headline; other ack levels are named after it.
            other = [r for r in closed if "acks)" in r["system"]]
            closed = [r for r in closed if "acks)" not in r["system"]]
            b = max(closed, key=lambda r: num(r["records_per_s"]), default=None)
            if b:
                text.append("best %s (%s) p99 %s" % (fmt_rate(b["records_per_s"]),
                                                    b.get("label") or b.get("case") or "",
                                                    fmt_us(b.get("p99_us"))))
            for sysname in sorted({r["system"] for r in other}):
                o = best(other, system=sysname)
                text.append("%s %s" % (sysname, fmt_rate(o["records_per_s"])))
            ratios = [num(r.get("ratio")) for r in closed if num(r.get("ratio")) is not None]
            if ratios:
                text.append("ratio to limit %.2f..%.2f" % (min(ratios), max(ratios)))
        skipped = [r for r in rs if r.get("skipped")]
        if skipped:
            text.append("%d skipped (%s)" % (len(skipped), skipped[0]["skipped"]))
        lines.append("%-15s %s" % (head, "; ".join(text) if text else "no runs"))
    # sluiced's own memory at steady state, in its best durable run.
    for step in ("e2e", "http"):
        closed = [r for r in runs if r["step"] == step and r.get("loop", "closed") == "closed"]
        b = best(closed, system="sluice UDP" if step == "e2e" else "sluice HTTP")
        m = memory_of(b) if b else None
        if m:
            lines.append("%-15s sluiced in %s: %s" % ("memory:", b.get("label"), m))
    # sluice against its peers, durable where the peer is.
    e2e = best([r for r in runs if r["step"] == "e2e" and r.get("loop", "closed") == "closed"],
               system="sluice UDP")
    peers = [r for r in runs if r["step"] == "peers" and r.get("loop", "closed") == "closed"]
    for sysname in sorted({r["system"] for r in peers}):
        p = best(peers, system=sysname)
        if e2e and p and num(p["records_per_s"]):
            lines.append("%-15s sluice UDP durable / %s = %.2f" % (
                "vs peers:", sysname, num(e2e["records_per_s"]) / num(p["records_per_s"])))
    return "\n".join(lines) + "\n"


def write_dat(path, header, rows):
    with open(path, "w") as f:
        f.write("# " + " ".join(header) + "\n")
        for row in rows:
            f.write(" ".join("NaN" if v is None else ("%g" % v if isinstance(v, float) else str(v))
                             for v in row) + "\n")


def series(runs, step, loop="closed", system=None, key="record_bytes"):
    """{system: [run, ...] sorted by key} for closed or open runs of a step."""
    out = {}
    for r in runs:
        if r["step"] != step or not ok(r) or r.get("loop", "closed") != loop:
            continue
        if system and r["system"] != system:
            continue
        if num(r.get(key)) is None:
            continue
        out.setdefault(r["system"], []).append(r)
    for s in out:
        # One point per x: the best run there (a sweep may try several windows).
        byx = {}
        for r in out[s]:
            x = num(r[key])
            if x not in byx or num(r["records_per_s"]) > num(byx[x]["records_per_s"]):
                byx[x] = r
        out[s] = [byx[x] for x in sorted(byx)]
    return out


def mbps(r):
    v = num(r.get("mb_per_s"))
    if v is None and num(r.get("record_bytes")) is not None:
        v = num(r["records_per_s"]) * num(r["record_bytes"]) / 1e6
    return v


def plot_data(out, runs):
    d = os.path.join(out, "plots")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.endswith(".dat"):
            os.remove(os.path.join(d, f))
    names = {}

    def slug(s):
        return "".join(c if c.isalnum() else "-" for c in s.lower()).strip("-")

    # 1. Throughput vs record size: x bytes, records/s, MB/s, p99 us, limit MB/s.
    sizes = []
    for step in ("storage-sizes", "e2e-sizes", "http-sizes"):
        for sysname, rs in series(runs, step).items():
            fn = "size-%s-%s.dat" % (step, slug(sysname))
            write_dat(os.path.join(d, fn), ["record_bytes", "records_per_s", "mb_per_s", "p99_us",
                                            "limit_mb_per_s"],
                      [(num(r["record_bytes"]), num(r["records_per_s"]), mbps(r),
                        num(r.get("p99_us")), num(r.get("limit_mb_per_s"))) for r in rs])
            sizes.append((fn, "%s (%s)" % (sysname, step.split("-")[0])))
    names["sizes"] = sizes

    # 2. Latency percentiles vs offered load (open loop), per system.
    lat = []
    for step in ("e2e", "peers", "http"):
        for sysname, rs in series(runs, step, loop="open", key="offered_rps").items():
            fn = "load-%s-%s.dat" % (step, slug(sysname))
            write_dat(os.path.join(d, fn), ["offered_rps", "records_per_s", "p50_us", "p99_us",
                                            "p999_us", "max_us"],
                      [(num(r["offered_rps"]), num(r["records_per_s"]), num(r.get("p50_us")),
                        num(r.get("p99_us")), num(r.get("p999_us")), num(r.get("max_us")))
                       for r in rs])
            lat.append((fn, sysname))
    names["latency"] = lat

    # 3. Scaling with shards per core.
    sh = []
    for step in ("storage-shards", "e2e-shards"):
        for sysname, rs in series(runs, step, key="shards").items():
            fn = "shards-%s.dat" % step
            write_dat(os.path.join(d, fn), ["shards", "records_per_s", "p99_us"],
                      [(num(r["shards"]), num(r["records_per_s"]), num(r.get("p99_us")))
                       for r in rs])
            sh.append((fn, "%s (%s)" % (sysname, step.split("-")[0])))
    names["shards"] = sh

    # 4. Ratios: to the limit measured in the same run, and to a peer.
    limits = []
    for r in runs:
        ratio = num(r.get("ratio"))
        if not ok(r) or r.get("loop", "closed") != "closed" or ratio is None:
            continue
        if r["step"] not in ("storage", "storage-sizes", "storage-shards", "rx"):
            continue
        limits.append(("%s %s" % (r["step"], r.get("label") or r.get("case") or ""), ratio))
    peers = []
    e2e = best([r for r in runs if r["step"] == "e2e" and r.get("loop", "closed") == "closed"],
               system="sluice UDP")
    closed_peers = [r for r in runs if r["step"] == "peers" and r.get("loop", "closed") == "closed"]
    for sysname in sorted({r["system"] for r in closed_peers}):
        p = best(closed_peers, system=sysname)
        if e2e and p and num(p["records_per_s"]):
            peers.append(("sluice UDP durable / %s" % sysname,
                          num(e2e["records_per_s"]) / num(p["records_per_s"])))
    http = [r for r in runs if r["step"] == "http" and r.get("loop", "closed") == "closed"]
    s = best(http, system="sluice HTTP")
    k = best(http, system="kinesalite")
    if s and k and num(k["records_per_s"]):
        peers.append(("sluice HTTP durable / kinesalite",
                      num(s["records_per_s"]) / num(k["records_per_s"])))
    for fn, bars in (("ratios-limits.dat", limits), ("ratios-peers.dat", peers)):
        with open(os.path.join(d, fn), "w") as f:
            f.write("# label ratio\n")
            for label, ratio in bars:
                f.write('"%s" %g\n' % (label.strip().replace('"', "'"), ratio))
    names["ratios_limits"] = [("ratios-limits.dat", len(limits))] if limits else []
    names["ratios_peers"] = [("ratios-peers.dat", len(peers))] if peers else []

    with open(os.path.join(d, "series.json"), "w") as f:
        json.dump(names, f, indent=1)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    out = sys.argv[1]
    setup, steps, runs = load(out)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"setup": setup, "steps": steps, "runs": runs}, f, indent=1)
        f.write("\n")
    write_csv(out, runs)
    text = summary(steps, runs)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text)
    plot_data(out, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
