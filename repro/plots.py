#!/usr/bin/python3
"""plots.py - the figures of docs/results/table1.md, as PNG, from what
repro/table1 (--traces) and repro/fig2 wrote:

  table1_<dataset>_<variant>_extrapolation.png  both state dimensions against
      time, truth and every seed's rollout over validation and test, the
      median seed (by test MSE) highlighted
  table1_<dataset>_<variant>_phase.png          the same in the phase plane
  table1_<dataset>_<variant>_curves.png         learning curves: training
      batch loss and validation MSE against Adam iteration, every seed
  fig2.png                                      forward and backward time
      against state size and stiffness, mean +- std

  plots.py CSV TRACE_DIR FIG2_DAT OUT_DIR

Needs matplotlib (Debian: python3-matplotlib); without it, says so and
exits 0 so that the rest of `make reproduce` goes on.
"""
import csv
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("plots.py: matplotlib not found (apt-get install python3-matplotlib): "
          "no plots drawn")
    sys.exit(0)


def read_table(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            rows.append([float(v) for v in line.split()])
    return rows


def runs_by_config(csv_path):
    groups = {}
    with open(csv_path) as f:
        for r in csv.DictReader(f):
            groups.setdefault((r["dataset"], r["variant"]), []).append(
                (int(r["seed"]), float(r["test_mse"])))
    return groups


def median_seed(runs):
    ok = sorted(runs, key=lambda r: (r[1] != r[1], r[1]))   # NaN last
    return ok[(len(ok) - 1) // 2][0]


def plot_config(ds, var, runs, traces, out):
    tag = "%s_%s" % (ds, var)
    med = median_seed(runs)
    trajs = {}
    for seed, _ in runs:
        p = os.path.join(traces, "%s_s%d.traj" % (tag, seed))
        if os.path.exists(p):
            trajs[seed] = read_table(p)
    if not trajs:
        print("plots.py: no traces for %s" % tag)
        return
    any_t = next(iter(trajs.values()))
    t = [r[1] for r in any_t]
    seg = [int(r[6]) for r in any_t]
    bounds = [t[i] for i in range(1, len(t)) if seg[i] != seg[i - 1]]
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for d, ax in enumerate(axes):
        ax.plot(t, [r[2 + d] for r in any_t], "k", lw=1.5, label="truth")
        for seed, tr in sorted(trajs.items()):
            if seed != med:
                ax.plot(t, [r[4 + d] for r in tr], color="tab:blue", lw=0.6, alpha=0.35)
        ax.plot(t, [r[4 + d] for r in trajs[med]], color="tab:red", lw=1.5,
                label="median seed (%d)" % med)
        for b in bounds:
            ax.axvline(b, color="gray", ls="--", lw=0.8)
        ax.set_ylabel("x%d" % (d + 1))
    axes[0].set_title("%s, %s: rollouts of all %d seeds (blue), validation then test "
                      "(restarted at the last validation observation)" % (ds, var, len(trajs)),
                      fontsize=9)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[1].set_xlabel("t")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "table1_%s_extrapolation.png" % tag), dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.plot([r[2] for r in any_t], [r[3] for r in any_t], "k", lw=1.2, label="truth")
    for seed, tr in sorted(trajs.items()):
        test = [r for r in tr if r[6] == 2]
        ax.plot([r[4] for r in test], [r[5] for r in test],
                color="tab:red" if seed == med else "tab:blue",
                lw=1.5 if seed == med else 0.6, alpha=1 if seed == med else 0.4)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title("%s, %s: test rollouts (median seed red)" % (ds, var), fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "table1_%s_phase.png" % tag), dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    for seed, _ in runs:
        p = os.path.join(traces, "%s_s%d.curve" % (tag, seed))
        if not os.path.exists(p):
            continue
        c = read_table(p)
        hi = seed == med
        ax.semilogy([r[0] for r in c], [r[2] for r in c], color="tab:red" if hi else "tab:blue",
                    lw=1.2 if hi else 0.5, alpha=1 if hi else 0.5)
        ax.semilogy([r[0] for r in c], [r[1] for r in c], color="tab:green" if hi else "gray",
                    lw=1.2 if hi else 0.4, alpha=1 if hi else 0.4)
    ax.set_xlabel("Adam iteration")
    ax.set_ylabel("MSE")
    ax.set_title("%s, %s: validation rollout MSE (blue; median seed red) and training "
                 "batch loss (grey; median green)" % (ds, var), fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "table1_%s_curves.png" % tag), dpi=90)
    plt.close(fig)


def plot_fig2(dat, out):
    rows = []
    with open(dat) as f:
        for line in f:
            if not line.startswith("#") and line.strip():
                s, d, lam, m, mean, sd, steps = line.split()
                rows.append((s, int(d), float(lam), m, float(mean), float(sd)))
    names = {"be_fwd": "backward Euler, Newton", "be_bwd_cg": "backward Euler, IFT + CG",
             "be_bwd_dense": "backward Euler, IFT dense", "dp_fwd": "Dormand-Prince 5(4)",
             "dp_bwd": "Dormand-Prince, backprop through stages"}
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, (sweep, xk, xl) in enumerate((("size", 1, "state size D (lam = 0)"),
                                           ("stiffness", 2, "stiffness lam (D = 2)"))):
        for row, kind in enumerate(("fwd", "bwd")):
            ax = axes[row][col]
            for m in names:
                if kind not in m:
                    continue
                pts = [r for r in rows if r[3] == m and
                       (r[0] == sweep or (sweep == "stiffness" and r[0] == "size" and r[1] == 2))]
                pts.sort(key=lambda r: r[xk])
                xs = [max(r[xk], 1) if sweep == "stiffness" else r[xk] for r in pts]
                ax.errorbar(xs, [r[4] for r in pts], yerr=[r[5] for r in pts], marker="o",
                            capsize=3, label=names[m])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xl + (" (lam = 0 drawn at 1)" if sweep == "stiffness" else ""))
            ax.set_ylabel("%s time per call [us]" % ("forward" if kind == "fwd" else "backward"))
            ax.legend(fontsize=7)
    fig.suptitle("Figure 2: one step dt = 0.1 of a 2x30 tanh neural ODE, 100 initialisations, "
                 "mean +- std (thread CPU time)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "fig2.png"), dpi=90)
    plt.close(fig)


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: plots.py CSV TRACE_DIR FIG2_DAT OUT_DIR")
    csv_path, traces, dat, out = sys.argv[1:]
    os.makedirs(out, exist_ok=True)
    for (ds, var), runs in sorted(runs_by_config(csv_path).items()):
        plot_config(ds, var, runs, traces, out)
    if os.path.exists(dat):
        plot_fig2(dat, out)
    else:
        print("plots.py: %s not found: no Figure 2 plot" % dat)


if __name__ == "__main__":
    main()
