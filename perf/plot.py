#!/usr/bin/env python3
"""perf/plot.py RESULTS_DIR: draws the harness's pictures with gnuplot.

Reads the series perf/collect.py wrote under RESULTS_DIR/plots (*.dat and
series.json) and RESULTS_DIR/setup.json, writes RESULTS_DIR/plots/plots.gp
(kept, so a picture can be redrawn or restyled by hand) and runs gnuplot on
it to make SVG files:

  throughput-vs-size.svg   records/s and MB/s as record size grows, with the
                           raw disk write limit measured in the same run
  latency-vs-load.svg      p50, p99 and p99.9 against offered load (open loop)
                           for sluice and its peers
  scaling-shards.svg       records/s and p99 as shards per core grow
  ratio-to-limits.svg      each result as a ratio to the limit measured in the same run
  ratio-to-peers.svg       sluice's records/s as a multiple of each peer's

A picture whose series are all missing (its steps were skipped) is not drawn.
Exit 77 when gnuplot is missing.
"""
import json
import os
import shutil
import subprocess
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#17becf", "#7f7f7f", "#bcbd22"]


SIZE_TICS = ("set xtics (" + ", ".join("'%s' %d" % (n, v) for n, v in (
    ("16 B", 16), ("64 B", 64), ("256 B", 256), ("1 KiB", 1024), ("4 KiB", 4096),
    ("16 KiB", 16384), ("64 KiB", 65536))) + ")")


def q(s):
    """s as a gnuplot double-quoted string (a newline becomes \\n)."""
    return '"%s"' % s.replace("\\", "\\\\").replace('"', "'").replace("\n", "\\n")


def setup_line(setup):
    if not setup:
        return ""
    d = setup.get("disk") or {}
    return "%s, %s cores, %s; %s %s; %s %s%s" % (
        setup.get("cpu"), setup.get("cores"), setup.get("kernel"), d.get("device"),
        d.get("fstype"), setup.get("date", "")[:16].replace("T", " "),
        (setup.get("git") or {}).get("commit") or "", " (quick)" if setup.get("quick") else "")


def preamble(out, name, title, setup, size="900,560"):
    return [
        "set terminal svg size %s dynamic noenhanced font 'Helvetica,12' background '#ffffff'"
        % size,
        "set output %s" % q(os.path.join(out, name)),
        "set encoding utf8",
        "set title %s" % q(title + "\n" + setup_line(setup)),
        "set grid lw 0.5 lc rgb '#dddddd'",
        "set key outside right top box opaque",
        "set datafile missing 'NaN'",
    ]


def main():
    if len(sys.argv) != 2:
        print("usage: perf/plot.py RESULTS_DIR", file=sys.stderr)
        return 2
    res = sys.argv[1]
    out = os.path.join(res, "plots")
    if not shutil.which("gnuplot"):
        print("plot: SKIP: no gnuplot (Debian gnuplot-nox; scripts/install-deps.sh)",
              file=sys.stderr)
        return 77
    try:
        with open(os.path.join(out, "series.json")) as f:
            series = json.load(f)
    except (OSError, ValueError) as e:
        print("plot: no series (run perf/collect.py first): %s" % e, file=sys.stderr)
        return 1
    try:
        with open(os.path.join(res, "setup.json")) as f:
            setup = json.load(f)
    except (OSError, ValueError):
        setup = {}

    def dat(fn):
        return q(os.path.join(out, fn))

    gp = []
    drawn = []

    sizes = series.get("sizes") or []
    if sizes:
        gp += preamble(out, "throughput-vs-size.svg",
                       "Throughput as record size grows (closed loop, durable acks)", setup,
                       "900,760")
        gp += ["set multiplot layout 2,1",
               "set logscale x 2", "set logscale y 10",
               SIZE_TICS, "set xrange [12:90000]", "set xlabel 'record size'",
               "set ylabel 'MB/s (record data)'"]
        plots = []
        for i, (fn, label) in enumerate(sizes):
            plots.append("%s using 1:3 with linespoints lw 2 pt 7 lc rgb '%s' title %s"
                         % (dat(fn), COLORS[i % len(COLORS)], q(label)))
            if fn.startswith("size-storage"):
                plots.append("%s using 1:5 with lines dt 2 lw 2 lc rgb '#555555' "
                             "title 'raw io_uring writes (limit)'" % dat(fn))
        gp.append("plot " + ", \\\n     ".join(plots))
        gp += ["set title ''", "set ylabel 'records/s'", "set format y '%.0s%c'"]
        plots = ["%s using 1:2 with linespoints lw 2 pt 7 lc rgb '%s' title %s"
                 % (dat(fn), COLORS[i % len(COLORS)], q(label))
                 for i, (fn, label) in enumerate(sizes)]
        gp.append("plot " + ", \\\n     ".join(plots))
        gp += ["unset multiplot", "unset logscale", "set format x '%g'", "set format y '%g'",
               "unset output", "reset"]
        drawn.append("throughput-vs-size.svg")

    lat = series.get("latency") or []
    if lat:
        gp += preamble(out, "latency-vs-load.svg",
                       "Latency at fixed offered loads (open loop, from the scheduled send)",
                       setup, "900,1000")
        gp += ["set multiplot layout 3,1",
               "set logscale x 10", "set logscale y 10",
               "set format x '%.0s%c'", "set xlabel 'offered load (records/s)'"]
        for col, name in ((3, "p50"), (4, "p99"), (5, "p99.9")):
            gp.append("set ylabel '%s latency (ms)'" % name)
            plots = ["%s using 1:($%d/1000) with linespoints lw 2 pt 7 lc rgb '%s' title %s"
                     % (dat(fn), col, COLORS[i % len(COLORS)], q(label))
                     for i, (fn, label) in enumerate(lat)]
            gp.append("plot " + ", \\\n     ".join(plots))
            gp.append("set title ''")
        gp += ["unset multiplot", "unset logscale", "set format x '%g'", "unset output", "reset"]
        drawn.append("latency-vs-load.svg")

    sh = series.get("shards") or []
    if sh:
        gp += preamble(out, "scaling-shards.svg", "Shards per core (one core, closed loop)",
                       setup, "900,700")
        gp += ["set multiplot layout 2,1", "set logscale x 2", "set xlabel 'shards per core'",
               "set ylabel 'records/s'", "set format y '%.1s%c'", "set yrange [0:*]"]
        gp.append("plot " + ", \\\n     ".join(
            "%s using 1:2 with linespoints lw 2 pt 7 lc rgb '%s' title %s"
            % (dat(fn), COLORS[i % len(COLORS)], q(label)) for i, (fn, label) in enumerate(sh)))
        gp += ["set title ''", "set ylabel 'p99 ack latency (ms)'", "set format y '%g'"]
        gp.append("plot " + ", \\\n     ".join(
            "%s using 1:($3/1000) with linespoints lw 2 pt 7 lc rgb '%s' title %s"
            % (dat(fn), COLORS[i % len(COLORS)], q(label)) for i, (fn, label) in enumerate(sh)))
        gp += ["unset multiplot", "unset logscale", "unset output", "reset"]
        drawn.append("scaling-shards.svg")

    for key, name, title, xlabel in (
            ("ratios_limits", "ratio-to-limits.svg",
             "Each result as a ratio to the limit measured in the same run",
             "ratio to the limit (raw disk writes, rx-only PMD): 1 = the limit"),
            ("ratios_peers", "ratio-to-peers.svg",
             "sluice as a multiple of its peers, measured in the same run",
             "records/s ratio (1 = the peer)")):
        if not series.get(key):
            continue
        fn, n = series[key][0]
        with open(os.path.join(out, fn)) as f:
            top = max(float(line.rsplit(None, 1)[1]) for line in f if not line.startswith("#"))
        gp += preamble(out, name, title, setup, "900,%d" % max(260, 130 + 24 * n))
        gp += ["unset key", "set style fill solid 0.8 border -1",
               "set yrange [-0.6:%f]" % (n - 0.4), "set ytics nomirror font ',10'",
               "set xlabel %s" % q(xlabel), "set xrange [0:%g]" % (max(1.0, top) * 1.12), "set offsets 0, graph 0.08, 0, 0",
               "set arrow from 1, graph 0 to 1, graph 1 nohead dt 2 lw 2 lc rgb '#555555'",
               "plot %s using ($2*0.5):0:($2*0.5):(0.35):yticlabels(1) with boxxyerror "
               "lc rgb '%s', '' using 2:0:(sprintf('%%.2f', $2)) with labels left offset 0.5,0 "
               "font ',10'" % (dat(fn), COLORS[0]),
               "unset output", "reset"]
        drawn.append(name)

    if not gp:
        print("plot: nothing to draw (every step was skipped?)", file=sys.stderr)
        return 0
    script = os.path.join(out, "plots.gp")
    with open(script, "w") as f:
        f.write("# Written by perf/plot.py; redraw with: gnuplot %s\n" % script)
        f.write("\n".join(gp) + "\n")
    r = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        return 1
    for name in drawn:
        print("plot: %s" % os.path.join(out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
