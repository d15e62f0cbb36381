#!/usr/bin/env python3
"""Turns criterion's results (target/criterion) into the markdown tables of
BENCHMARKS.md, with the ratios, and draws benches/scaling.png.

    cargo bench                      # load, lookup, password, alloc_count
    python3 benches/report.py        # tables on stdout; the plot needs matplotlib

Figures are criterion's median estimates of one run (one session): each
ratio compares two benchmarks of the same group, measured minutes apart on
the same machine. Standard library only, except matplotlib for the plot,
which is skipped with a note when it cannot be imported (benches/cli.sh
makes a venv at target/bench-venv; `target/bench-venv/bin/pip install
matplotlib` and run this script with that venv's python).
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRITERION = os.path.join(ROOT, "target", "criterion")
SIZES = [10, 100, 1_000, 10_000, 100_000]


def median(*parts):
    """Median time in seconds of one benchmark, or None when it did not run."""
    path = os.path.join(CRITERION, *map(str, parts), "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"] * 1e-9
    except FileNotFoundError:
        return None


def fmt(t):
    if t is None:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}" if t / scale < 100 else f"{t / scale:.0f} {unit}"
    return f"{t * 1e9:.2f} ns"


def ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}x"


def load_tables():
    out = []
    out.append("### Load + first lookup, `.env`\n")
    out.append("| variables | envcloak | dotenvy baseline | config-rs `Environment` | envcloak / dotenvy | envcloak / config-rs |")
    out.append("|---:|---:|---:|---:|---:|---:|")
    for n in SIZES:
        e, d, c = (median("load_env", b, n) for b in ("envcloak", "dotenvy", "config_rs_env"))
        out.append(f"| {n:,} | {fmt(e)} | {fmt(d)} | {fmt(c)} | {ratio(e, d)} | {ratio(e, c)} |")
    out.append("")
    out.append("### Load + first lookup, `.env.enc`\n")
    out.append("| variables | envcloak | bare `Fernet::decrypt` | Fernet + dotenvy baseline | envcloak / (Fernet + dotenvy) | envcloak / bare Fernet |")
    out.append("|---:|---:|---:|---:|---:|---:|")
    for n in SIZES:
        e, f, fd = (median("load_env_enc", b, n) for b in ("envcloak", "fernet_bare", "fernet_dotenvy"))
        out.append(f"| {n:,} | {fmt(e)} | {fmt(f)} | {fmt(fd)} | {ratio(e, fd)} | {ratio(e, f)} |")
    out.append("")
    return out


def linearity_table():
    out = ["### Linearity\n"]
    out.append("| series | 1,000 | 10,000 | 100,000 | t(10,000) / t(1,000) | t(100,000) / t(1,000) |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for group, bench, label in (
        ("load_env", "envcloak", "envcloak `.env`"),
        ("load_env", "dotenvy", "dotenvy `.env`"),
        ("load_env", "config_rs_env", "config-rs `Environment`"),
        ("load_env_enc", "envcloak", "envcloak `.env.enc`"),
        ("load_env_enc", "fernet_dotenvy", "Fernet + dotenvy"),
    ):
        t1, t10, t100 = (median(group, bench, n) for n in (1_000, 10_000, 100_000))
        out.append(f"| {label} | {fmt(t1)} | {fmt(t10)} | {fmt(t100)} | {ratio(t10, t1)} | {ratio(t100, t1)} |")
    out.append("")
    return out


def lookup_table():
    out = ["### Lookups on a loaded `Config` (100 variables)\n"]
    out.append("| type | envcloak | lookups/s | `HashMap` + std baseline | baseline lookups/s | envcloak / baseline |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for group, label in (
        ("lookup_string", "`String`"),
        ("lookup_bool", "`bool`"),
        ("lookup_u16", "`u16`"),
        ("lookup_csv_string", "`Csv<String>` (3 items)"),
        ("lookup_secret_string", "`SecretString`"),
    ):
        e, b = median(group, "envcloak"), median(group, "hashmap_std")
        rate = lambda t: "-" if t is None else f"{1 / t / 1e6:.1f} M"
        out.append(f"| {label} | {fmt(e)} | {rate(e)} | {fmt(b)} | {rate(b)} | {ratio(e, b)} |")
    out.append("")
    return out


def password_table():
    out = ["### Password mode (PBKDF2-HMAC-SHA256, 600,000 iterations, 100 variables; not in the goals)\n"]
    out.append("| envcloak | bare PBKDF2 + Fernet + dotenvy | envcloak / bare |")
    out.append("|---:|---:|---:|")
    e = median("password_pbkdf2_600k", "envcloak")
    b = median("password_pbkdf2_600k", "pbkdf2_fernet_dotenvy")
    out.append(f"| {fmt(e)} | {fmt(b)} | {ratio(e, b)} |")
    out.append("")
    return out


def plot(path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(no matplotlib: {os.path.relpath(path, ROOT)} not drawn)", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
    for group, bench, label, style in (
        ("load_env", "envcloak", "envcloak .env", "o-"),
        ("load_env", "dotenvy", "dotenvy .env (baseline)", "s--"),
        ("load_env", "config_rs_env", "config-rs Environment (map given)", "^:"),
        ("load_env_enc", "envcloak", "envcloak .env.enc", "o-"),
        ("load_env_enc", "fernet_dotenvy", "Fernet + dotenvy (baseline)", "s--"),
        ("load_env_enc", "fernet_bare", "bare Fernet decrypt", "x:"),
    ):
        pts = [(n, median(group, bench, n)) for n in SIZES]
        pts = [(n, t) for n, t in pts if t is not None]
        if pts:
            ax.plot([n for n, _ in pts], [t * 1e3 for _, t in pts], style, label=label)
    # A line of slope 1 through envcloak's 1,000-variable point: linear time.
    t1 = median("load_env", "envcloak", 1_000)
    if t1:
        ax.plot(SIZES, [t1 * 1e3 * n / 1_000 for n in SIZES], color="grey", linewidth=0.8,
                label="linear (through envcloak .env at 1,000)")
    if t1:
        ax.plot([100_000], [t1 * 1e3 * 120], "k*", markersize=10,
                label="goal: at most 120x envcloak .env at 1,000")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("variables in the file")
    ax.set_ylabel("load + first lookup, median (ms)")
    ax.set_title("envcloak load time against file size (criterion medians, one run)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    print(f"(wrote {os.path.relpath(path, ROOT)})", file=sys.stderr)


def main():
    if not os.path.isdir(CRITERION):
        sys.exit("no target/criterion: run `cargo bench` first")
    lines = load_tables() + linearity_table() + lookup_table() + password_table()
    print("\n".join(lines))
    plot(os.path.join(ROOT, "benches", "scaling.png"))


if __name__ == "__main__":
    main()
