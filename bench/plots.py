"""Plots for docs/BENCHMARKS.md (bench/report.py and the sections it renders): PNGs drawn by
gnuplot into docs/bench/. A missing gnuplot means no plot, never a failed report."""

import os
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PLOTS = os.path.join(ROOT, "docs", "bench")


def gnuplot(script):
    """Runs a gnuplot script; False when there is no gnuplot."""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=False)
    except FileNotFoundError:
        return False
    return True


def text(s):
    """s as a gnuplot string between double quotes: backquotes there would run a command."""
    return str(s).replace("`", "'").replace('"', "'")


def bar_plot(name, title, ylabel, bars, log=False, limit=None, ymax=None):
    """bars: [(label, value, lo, hi)] (lo/hi may be None); drover's bars are orange, the
    peers' blue, the machine's limit (if given) a dashed line. Writes docs/bench/NAME.png."""
    os.makedirs(PLOTS, exist_ok=True)
    rows = []
    for label, v, lo, hi in bars:
        color = 0xE67E22 if label.startswith("drover") else 0x3B7DD8
        rows.append(f'"{text(label)}" {v} {v if lo is None else lo} '
                    f'{v if hi is None else hi} {color}')
    low = min((b[1] for b in bars if b[1] > 0), default=1) / 3
    limit_clause = (f', {limit} with lines dt 2 lw 2 lc rgb "#c0392b" title "machine limit"'
                    if limit else "")
    data = "\n".join(rows)
    script = f"""
set terminal pngcairo size 760,420 font ",10"
set output "{os.path.join(PLOTS, name + '.png')}"
set title "{text(title)}"
set ylabel "{text(ylabel)}"
set style fill solid 0.85 border -1
set boxwidth 0.6
set grid ytics
set key top right
set xtics rotate by -25 nomirror
set bmargin 5
set yrange [{low if log else 0}:{ymax if ymax is not None else '*'}]
{'set logscale y' if log else ''}
$d << EOD
{data}
EOD
plot $d using 0:2:5:xtic(1) with boxes lc rgb variable notitle, \\
     $d using 0:2:3:4 with yerrorbars lc rgb "black" ps 0 notitle{limit_clause}
"""
    gnuplot(script)
    return f"bench/{name}.png"


def line_plots(name, title, t, panels, shade_to=None):
    """Stacked line plots over one time axis (seconds): panels is [(ylabel, [(label, values,
    thin)])]; a value may be None (a gap). shade_to greys the time before it (the warm-up).
    Writes docs/bench/NAME.png."""
    os.makedirs(PLOTS, exist_ok=True)
    n = len(panels)
    script = [f'set terminal pngcairo size 860,{230 * n + 40} font ",10"',
              f'set output "{os.path.join(PLOTS, name + ".png")}"',
              f'set multiplot layout {n},1 title "{text(title)}"',
              "set grid", "set key top left horizontal", "set lmargin 10", "set rmargin 3",
              "set yrange [0:*]", "set offsets 0, 0, graph 0.2, 0",  # room for the key
              f"set xrange [0:{max(t) if t else 1}]"]
    if shade_to:
        script.append(f"set object 1 rect from 0, graph 0 to {shade_to}, graph 1 "
                      "fc rgb '#eeeeee' fs solid 1.0 noborder behind")
    for i, (ylabel, series) in enumerate(panels):
        rows = [" ".join(str(c) for c in [x, *("NaN" if v[j] is None else v[j]
                                               for _, v, _ in series)])
                for j, x in enumerate(t)]
        script += [f"$d{i} << EOD", *rows, "EOD", f'set ylabel "{text(ylabel)}"',
                   'set xlabel "seconds"' if i == n - 1 else "unset xlabel"]
        plots = []
        for k, (label, _, thin) in enumerate(series):
            color = ("#e67e22", "#3b7dd8", "#7f8c8d")[k % 3]
            plots.append(f'$d{i} using 1:{k + 2} with linespoints pt 7 ps 0.4 '
                         f'lw {1 if thin else 2} lc rgb "{color}" title "{text(label)}"')
        script.append("plot " + ", ".join(plots))
    script.append("unset multiplot")
    return f"bench/{name}.png" if gnuplot("\n".join(script) + "\n") else None


def xy_plot(name, title, xlabel, ylabel, series, hlines=(), logy=True):
    """Lines over a logarithmic x axis (a scale: 1, 10, 100, 1000...): series is [(label,
    [(x, y)])]; hlines [(y, label)] are dashed reference lines. Writes docs/bench/NAME.png."""
    os.makedirs(PLOTS, exist_ok=True)
    script = ['set terminal pngcairo size 960,460 font ",10"',
              f'set output "{os.path.join(PLOTS, name + ".png")}"',
              f'set title "{text(title)}"', f'set xlabel "{text(xlabel)}"',
              f'set ylabel "{text(ylabel)}"',
              "set logscale x", "set grid", 'set key outside right top Left reverse font ",9"']
    if logy:
        script.append("set logscale y")
    plots = []
    for i, (label, points) in enumerate(series):
        script += [f"$d{i} << EOD", *(f"{x} {y}" for x, y in points), "EOD"]
        plots.append(f"$d{i} using 1:2 with linespoints pt {7 + i // 8} ps 0.6 lw 2 "
                     f'lc {i % 8 + 1} dt {i // 8 + 1} title "{text(label)}"')
    for y, label in hlines:
        plots.append(f'{y} with lines dt 2 lw 1 lc rgb "#c0392b" title "{text(label)}"')
    if not plots:
        return None
    script.append("plot " + ", ".join(plots))
    return f"bench/{name}.png" if gnuplot("\n".join(script) + "\n") else None
