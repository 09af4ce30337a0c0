"""plot_control.py - draws the control experiments' figures from their CSV
files (called by scripts/plot_control.sh; see docs/results/control.md).

  table2: RESULTS/table2_fig3.png, pole angle and tip height of the first
          ten low-variance episodes of run 0 for the expert, behavioural
          cloning and MPC_IFT (the paper's Figure 3), from table2_traj.csv.
  dare:   RESULTS/dare_fig4.png, imitation loss and model loss
          ||A - A_hat||_F against iteration, mean and standard deviation
          over the five initialisations, for the three gradients (the
          paper's Figure 4, c = 1), from dare_curves.csv.
"""
import csv
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LEN = 0.6


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def table2(d):
    rows = read(f"{d}/table2_traj.csv")
    names = [("expert", "Expert (random shooting)"), ("bc", "Behavioural cloning"),
             ("mpc_ift", "MPC$_{IFT}$")]
    fig, ax = plt.subplots(2, 3, figsize=(13, 6.5), sharex=True, sharey="row")
    for j, (key, title) in enumerate(names):
        eps = {}
        for r in rows:
            if r["method"] == key:
                eps.setdefault(int(r["episode"]), []).append(r)
        for e, rs in sorted(eps.items()):
            t = [0.1 * int(r["t"]) for r in rs]
            th = [float(r["theta"]) for r in rs]
            tip = [-LEN * math.cos(x) for x in th]
            ax[0, j].plot(t, th, lw=1)
            ax[1, j].plot(t, tip, lw=1)
        ax[0, j].axhline(math.pi, color="k", ls=":", lw=0.8)
        ax[0, j].axhline(-math.pi, color="k", ls=":", lw=0.8)
        ax[1, j].axhline(LEN, color="k", ls=":", lw=0.8)
        ax[0, j].set_title(title)
        ax[1, j].set_xlabel("time [s]")
    ax[0, 0].set_ylabel("pole angle [rad] (0 down, $\\pm\\pi$ up)")
    ax[1, 0].set_ylabel("pole tip height [m]")
    fig.suptitle("Cart-pole swing-up, run 0, 10 initial states "
                 "$x_0 \\sim N(0, 0.04 I)$")
    fig.tight_layout()
    fig.savefig(f"{d}/table2_fig3.png", dpi=110)
    print(f"plot_control: wrote {d}/table2_fig3.png")


def dare(d):
    rows = [r for r in read(f"{d}/dare_curves.csv") if float(r["c"]) == 1.0]
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = {"ift_cg": "IFT, CG (ours)", "ift_dense": "IFT, dense (naive)",
              "analytic": "Analytic (Lyapunov)"}
    styles = {"ift_cg": "-", "ift_dense": "--", "analytic": ":"}
    for meth in ("ift_cg", "ift_dense", "analytic"):
        for k, key in enumerate(("imitation_loss", "model_loss")):
            by_it = {}
            for r in rows:
                if r["method"] == meth:
                    by_it.setdefault(int(r["iteration"]), []).append(math.log10(float(r[key])))
            its = sorted(by_it)
            mean = [sum(by_it[i]) / len(by_it[i]) for i in its]
            std = [math.sqrt(sum((v - m) ** 2 for v in by_it[i]) / len(by_it[i]))
                   for i, m in zip(its, mean)]
            ax[k].plot(its, [10 ** m for m in mean], styles[meth], label=labels[meth])
            ax[k].fill_between(its, [10 ** (m - s) for m, s in zip(mean, std)],
                               [10 ** (m + s) for m, s in zip(mean, std)], alpha=0.15)
    ax[0].set_title("imitation loss (mean over the 45 start windows)")
    ax[1].set_title("model loss $\\|A - \\hat A\\|_F$")
    for a in ax:
        a.set_yscale("log")
        a.set_xlabel("iteration")
        a.legend()
    fig.suptitle("Appendix C, c = 1: mean $\\pm$ std (of log10) over 5 initialisations")
    fig.tight_layout()
    fig.savefig(f"{d}/dare_fig4.png", dpi=110)
    print(f"plot_control: wrote {d}/dare_fig4.png")


if __name__ == "__main__":
    {"table2": table2, "dare": dare}[sys.argv[1]](sys.argv[2])
