#!/usr/bin/python3
"""report.py - writes docs/results/table1.md, the Table 1 / Figure 2 section
of docs/RESULTS.md, from the files `make reproduce-table1` produced:

  report.py CSV RUNS_CSV TABLE1_LOG FIG2_LOG TIMES OUT_MD

CSV is docs/results/table1.csv (one row per run), RUNS_CSV the extra
per-run figures (CPU time, steps, selected iteration), TABLE1_LOG and
FIG2_LOG the programs' standard output, TIMES the line "wall_s user_s sys_s"
of the whole table1 run.  Every number in the section comes from these
files; the fixed text around them says what the protocol is and why.
Standard library only.
"""
import csv
import math
import os
import statistics
import subprocess
import sys

PAPER = {"vdp": "0.40 ± 0.06", "spiral": "0.09 ± 0.01", "spiral01": "—"}
NAMES = {"vdp": "Van der Pol (mu = 3)", "spiral": "spiral, a11 = -1 (as printed)",
         "spiral01": "spiral, a11 = -0.1"}
MODELS = {("vdp", "1layer"): "1 hidden layer of 500 (node_vdp)",
          ("spiral", "1layer"): "1 hidden layer of 50 (node_euler)",
          ("spiral01", "1layer"): "1 hidden layer of 50 (node_euler)"}
TARGETS = {"vdp": 0.04, "spiral01": 0.045}
ORDER = ["vdp", "spiral01", "spiral"]


def fmt(x):
    if x != x:
        return "nan"
    if math.isinf(x):
        return "inf"
    return "%.4f" % x if x >= 1e-3 else "%.2e" % x


def load(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def summary_rows(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["variant"]), []).append(r)
    out = []
    for key in sorted(groups, key=lambda k: (ORDER.index(k[0]) if k[0] in ORDER else 9, k[1])):
        g = groups[key]
        t = [float(r["test_mse"]) for r in g]
        fin = [x for x in t if math.isfinite(x)]
        n = len(t)
        mean = statistics.fmean(fin) if fin else float("nan")
        se = statistics.stdev(fin) / math.sqrt(len(fin)) if len(fin) > 1 else float("nan")
        z, h = float(g[0]["baseline_zero"]), float(g[0]["baseline_hold"])
        below = sum(1 for r in g if float(r["test_mse"]) < min(float(r["baseline_zero"]),
                                                                 float(r["baseline_hold"])))
        out.append(dict(ds=key[0], var=key[1], n=n, nfin=len(fin), mean=mean, se=se,
                        median=statistics.median(fin) if fin else float("nan"),
                        lo=min(t), hi=max(t), zero=z, hold=h, below=below,
                        fails=sum(int(r["newton_failures"]) for r in g),
                        wall=sum(float(r["wall_s"]) for r in g),
                        seeds="%s..%s" % (g[0]["seed"], g[-1]["seed"])))
    return out


def table1_section(summ, runs_extra, configs):
    L = []
    L.append("| data set | model | runs | test MSE mean ± s.e. | median | range | "
             "predict 0 | hold last | runs below both baselines | solver failures | "
             "paper (Bwd. Euler, IFT + CG) |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summ:
        model = MODELS.get((s["ds"], s["var"]), "2 hidden layers of 50 (node_mlp2)")
        L.append("| %s | %s | %d | %s ± %s | %s | %s – %s | %s | %s | %d of %d | %d | %s |" % (
            NAMES.get(s["ds"], s["ds"]), model, s["n"], fmt(s["mean"]), fmt(s["se"]),
            fmt(s["median"]), fmt(s["lo"]), fmt(s["hi"]), fmt(s["zero"]), fmt(s["hold"]),
            s["below"], s["n"], s["fails"],
            PAPER.get(s["ds"], "—") if s["var"] == "1layer" else "—"))
    return L


def targets_section(summ):
    L = []
    for ds, goal in TARGETS.items():
        s = [x for x in summ if x["ds"] == ds and x["var"] == "1layer"]
        if not s:
            L.append("- %s: not run." % NAMES[ds])
            continue
        s = s[0]
        ok_mean = s["mean"] <= goal and s["nfin"] == s["n"]
        ok_base = s["below"] == s["n"]
        L.append("- %s, one hidden layer: mean test MSE %s (target <= %g): **%s**; below "
                 "both trivial baselines in %d of %d seeds: **%s**." % (
                     NAMES[ds], fmt(s["mean"]), goal, "met" if ok_mean else "NOT met",
                     s["below"], s["n"], "met" if ok_base else "NOT met"))
    return L


def cost_section(rows, extra, times, times_path):
    L = []
    cpu = {}
    for r in extra:
        cpu.setdefault((r["dataset"], r["variant"]), []).append(float(r["cpu_s"]))
    wall = {}
    for r in rows:
        wall.setdefault((r["dataset"], r["variant"]), []).append(float(r["wall_s"]))
    L.append("| data set | variant | runs | wall per run, mean | CPU per run, mean | "
             "implicit steps per run |")
    L.append("|---|---|---|---|---|---|")
    steps = {}
    for r in extra:
        steps.setdefault((r["dataset"], r["variant"]), []).append(int(r["steps"]))
    for key in sorted(wall, key=lambda k: (ORDER.index(k[0]) if k[0] in ORDER else 9, k[1])):
        L.append("| %s | %s | %d | %.1f s | %.1f s | %d |" % (
            key[0], key[1], len(wall[key]), statistics.fmean(wall[key]),
            statistics.fmean(cpu.get(key, [float("nan")])),
            int(statistics.fmean(steps.get(key, [0])))))
    if times:
        w, u, s = times
        f2 = read_times(os.path.join(os.path.dirname(times_path), "fig2_times"))
        fw, fc = (f2[0], f2[1] + f2[2]) if f2 else (0.0, 0.0)
        L.append("")
        L.append("The whole table1 run (%d runs, two at a time): **%.0f s wall**, %.0f s CPU "
                 "(user %.0f s + system %.0f s)%s. Issue 9's target, the whole reproduction "
                 "in under 10 minutes of wall time on 2 cores: **%s** as measured here%s." % (
                     len(rows), w, u + s, u, s,
                     "; Figure 2 after it %.0f s wall, %.0f s CPU" % (fw, fc) if f2 else "",
                     "met" if w + fw < 600 else "NOT met",
                     " (%.0f s with Figure 2)" % (w + fw) if w + fw < 600 else
                     "; the CPU time alone needs at least %.0f s of wall on two idle cores "
                     "(perfect parallel use); whether an idle machine meets the target we "
                     "could not measure" % ((u + s + fc) / 2)))
    try:
        with open(os.path.join(os.path.dirname(times_path), "load")) as f:
            loads = [l.split()[0] for l in f if l.strip()]
        L.append("1-minute load average of the machine before and after the run: %s." %
                 " and ".join(loads))
    except OSError:
        pass
    try:
        with open(os.path.join(os.path.dirname(times_path), "loadlog")) as f:
            samples = [float(l.split()[0]) for l in f if l.strip()]
        if samples:
            L.append("Sampled every 30 s during the run (%d samples): mean %.1f, range %.1f to "
                     "%.1f; the two trainings of `--jobs 2` had the two cores to themselves "
                     "only when it stayed near 2." % (len(samples), statistics.fmean(samples),
                                                       min(samples), max(samples)))
    except (OSError, ValueError):
        pass
    return L


def fig2_section(log):
    L = []
    with open(log) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    head = [l for l in lines if not l.startswith("#")]
    if not head:
        return ["(fig2 produced no table)"]
    cols = [c.strip() for c in head[0].split("|")]
    L.append("| " + " | ".join(["sweep, D, lam, DOPRI5 steps"] + cols[1:]) + " |")
    L.append("|" + "---|" * len(cols))
    for l in head[1:]:
        c = [x.strip() for x in l.split("|")]
        a = c[0].split()
        L.append("| %s D=%s lam=%s, %s | %s |" % (a[0], a[1], a[2], a[3],
                                                  " | ".join(x.replace("+-", "±") for x in c[1:])))
    return L


def config_lines(log):
    with open(log) as f:
        return [l[len("# config "):].rstrip() for l in f if l.startswith("# config ")]


def read_times(path):
    try:
        with open(path) as f:
            w, u, s = (float(v) for v in f.read().split()[:3])
        return w, u, s
    except (OSError, ValueError):
        return None


def degenerate(summ):
    one = {x["ds"]: x for x in summ if x["var"] == "1layer"}
    if "spiral" not in one:
        return ""
    s, ok = one["spiral"], one.get("spiral01")
    other = ("(baselines %s and %s)" % (fmt(ok["zero"]), fmt(ok["hold"]))) if ok else ""
    return (
        "**The printed spiral (a11 = -1) is degenerate.** With a11 = -1 the first component "
        "is damped ten times harder than the second, so by the test segment (t = 15 .. 30) "
        "the trajectory has decayed most of the way to the origin and barely moves: "
        "predicting 0 there scores %s and holding the last validation observation %s, both "
        "below the paper's own 0.09 ± 0.01, and below our models' %s (one layer, mean). A "
        "low test MSE on it says little about whether "
        "the rotation was learnt, so we report it because the paper prints it and judge the "
        "method on a11 = -0.1, whose spiral keeps turning at a visible amplitude through the "
        "test segment %s." % (fmt(s["zero"]), fmt(s["hold"]), fmt(s["mean"]), other))


def vdp_note(rows, traces):
    """The Van der Pol row in words, from the CSV and the learning curves:
    whether the mean meets the target, the seeds above it with their
    selected validation MSE, and how much the validation MSE moves between
    consecutive checks in the last third of training."""
    g = [r for r in rows if r["dataset"] == "vdp" and r["variant"] == "1layer"]
    if not g:
        return ""
    t = [float(r["test_mse"]) for r in g]
    mean = statistics.fmean(t)
    bad = [r for r in g if float(r["test_mse"]) > TARGETS["vdp"]]
    jumps = []
    for r in g:
        p = os.path.join(traces, "vdp_1layer_s%s.curve" % r["seed"])
        if not os.path.exists(p):
            continue
        c = [[float(v) for v in l.split()] for l in open(p) if not l.startswith("#")]
        last = c[2 * len(c) // 3:]
        jumps += [max(a[2], b[2]) / min(a[2], b[2]) for a, b in zip(last, last[1:])
                  if min(a[2], b[2]) > 0]
    L = ["**Van der Pol %s its target on the mean** (%s against <= %g; median %s)." % (
        "meets" if mean <= TARGETS["vdp"] else "misses", fmt(mean), TARGETS["vdp"],
        fmt(statistics.median(t)))]
    good = [float(r["val_mse"]) for r in g if r not in bad]
    if bad:
        L.append("%d of %d seeds are above %g: %s, with selected validation MSE %s%s." % (
            len(bad), len(g), TARGETS["vdp"],
            ", ".join("seed %s at %s" % (r["seed"], fmt(float(r["test_mse"]))) for r in bad),
            ", ".join(fmt(float(r["val_mse"])) for r in bad),
            " (the other seeds' %s to %s)" % (fmt(min(good)), fmt(max(good))) if good else ""))
    if jumps:
        L.append("In the last third of training the validation MSE of the averaged "
                 "parameters changes by up to %.1fx between checks 25 Adam steps apart "
                 "(median %.2fx)." % (max(jumps), statistics.median(jumps)))
    ratio = min(min(float(r["baseline_zero"]), float(r["baseline_hold"]))
                / float(r["test_mse"]) for r in g)
    if ratio > 1:
        L.append("Every seed is %.0fx or more below both trivial baselines." % ratio)
    else:
        L.append("Not every seed is below both trivial baselines (see the table).")
    if mean < 0.40:
        L.append("The mean is %.0fx below the paper's 0.40." % (0.40 / mean))
    return " ".join(L)


def main():
    if len(sys.argv) not in (7, 8):
        sys.exit("usage: report.py CSV RUNS_CSV TABLE1_LOG FIG2_LOG TIMES OUT_MD [TRACES]")
    csv_path, runs_path, log, fig2_log, times_path, out = sys.argv[1:7]
    traces = sys.argv[7] if len(sys.argv) == 8 else ""
    rows, extra = load(csv_path), load(runs_path)
    summ = summary_rows(rows)
    times = read_times(times_path)
    text = open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "table1_text.md")).read()
    parts = {
        "COMMIT": git_commit(),
        "TABLE": "\n".join(table1_section(summ, extra, None)),
        "TARGETS": "\n".join(targets_section(summ)),
        "DEGENERATE": degenerate(summ),
        "VDPNOTE": vdp_note(rows, traces),
        "CONFIGS": "\n".join("- `%s`" % c for c in config_lines(log)),
        "COST": "\n".join(cost_section(rows, extra, times, times_path)),
        "FIG2": "\n".join(fig2_section(fig2_log)) if os.path.exists(fig2_log)
                else "(fig2 was not run)",
    }
    for k, v in parts.items():
        text = text.replace("@" + k + "@", v)
    with open(out, "w") as f:
        f.write(text)
    print("report.py: wrote %s" % out)


if __name__ == "__main__":
    main()
