#!/usr/bin/env python3
"""perf/setup_info.py: the setup a benchmark run came from, as JSON on stdout.

perf/bench.sh writes it to <results>/setup.json before the first step, so
every figure can be read next to the machine, disk, build and tool versions
it was measured on. Everything is read, nothing is assumed: a value that
cannot be read is null.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess


def run(*cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (r.stdout or "") + (r.stderr or "")
    return out.strip() if r.returncode == 0 else None


def first_line(s):
    return s.splitlines()[0].strip() if s else None


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def cpu_model():
    for line in (read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or None


def mem_gib():
    m = re.search(r"MemTotal:\s+(\d+) kB", read("/proc/meminfo") or "")
    return round(int(m.group(1)) / 1048576, 1) if m else None


def hugepages():
    m = re.search(r"HugePages_Total:\s+(\d+)", read("/proc/meminfo") or "")
    return int(m.group(1)) if m else None


def disk(path):
    d = {"dir": path, "device": None, "fstype": None, "mount_options": None,
         "model": None, "rotational": None, "scheduler": None, "write_cache": None,
         "free_gib": None}
    os.makedirs(path, exist_ok=True)
    st = shutil.disk_usage(path)
    d["free_gib"] = round(st.free / 2**30, 1)
    out = run("findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", path)
    if out:
        parts = out.split()
        if len(parts) >= 3:
            d["device"], d["fstype"], d["mount_options"] = parts[0], parts[1], parts[2]
    dev = d["device"] or ""
    if dev.startswith("/dev/"):
        name = os.path.basename(os.path.realpath(dev))
        # A partition's queue settings are its disk's.
        sys_dev = "/sys/class/block/" + name
        if os.path.exists(sys_dev + "/partition"):
            name = os.path.basename(os.path.dirname(os.path.realpath(sys_dev)))
        q = "/sys/block/%s/queue/" % name
        rot = read(q + "rotational")
        d["rotational"] = (rot == "1") if rot is not None else None
        sched = read(q + "scheduler")
        if sched:
            m = re.search(r"\[(\S+)\]", sched)
            d["scheduler"] = m.group(1) if m else sched
        d["write_cache"] = read(q + "write_cache")
        d["model"] = read("/sys/block/%s/device/model" % name) or name
    return d


def dpdk_version():
    return run("pkg-config", "--modversion", "libdpdk")


def build_info(build):
    info = {"dir": build, "buildtype": None, "optimization": None}
    out = run("meson", "introspect", "--buildoptions", build)
    if out:
        try:
            for o in json.loads(out):
                if o["name"] in ("buildtype", "optimization"):
                    info[o["name"]] = o["value"]
        except (ValueError, KeyError):
            pass
    return info


def versions(top):
    v = {
        "gcc": first_line(run("gcc", "--version")),
        "dpdk": dpdk_version(),
        "liburing": run("pkg-config", "--modversion", "liburing"),
        "redis": first_line(run("redis-server", "--version")),
        "nats": first_line(run("nats-server", "--version")),
        "node": first_line(run("node", "--version")),
        "kinesalite": None,
        "gnuplot": first_line(run("gnuplot", "--version")),
    }
    lock = os.path.join(top, "tests", "conformance", "package-lock.json")
    try:
        with open(lock) as f:
            pkgs = json.load(f).get("packages", {})
        v["kinesalite"] = pkgs.get("node_modules/kinesalite", {}).get("version")
    except (OSError, ValueError):
        pass
    return v


def git(top):
    rev = run("git", "-C", top, "rev-parse", "--short=12", "HEAD")
    dirty = run("git", "-C", top, "status", "--porcelain", "--untracked-files=no")
    return {"commit": rev, "dirty": bool(dirty) if dirty is not None else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--steps", default="")
    a = ap.parse_args()
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    u = platform.uname()
    setup = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": git(top),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": mem_gib(),
        "hugepages": hugepages(),
        "kernel": "%s %s %s" % (u.system, u.release, u.machine),
        "virtualization": run("systemd-detect-virt"),
        "loadavg_start": (read("/proc/loadavg") or "").split(" ")[:3],
        "disk": disk(a.dir),
        "build": build_info(a.build),
        "versions": versions(top),
        "quick": bool(a.quick),
        "steps": a.steps.split(),
    }
    json.dump(setup, __import__("sys").stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
