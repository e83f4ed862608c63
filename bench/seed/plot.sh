#!/usr/bin/env bash
# plot.sh RESULTS_DIR [VARIANT]: throughput and latency per second over time, HUPs marked,
# for the last round of VARIANT (seed) of each pair; writes RESULTS_DIR/VARIANT.png.
# Needs ab's per-request log (ab -g), so ab variants only. gnuplot from Debian's gnuplot-nox.
set -euo pipefail
results=$1 variant=${2:-seed}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot is not installed (make deps)" >&2; exit 1; }
panels=()
for pair in baton anchor; do
    dir=$(ls -d "$results/logs/$variant-$pair-"* 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$dir" ] && [ -f "$dir/ab.tsv" ] || continue
    # per second of completion: requests, p50 and p99 latency (ms); t = 0 at the first request
    perl -e '
        my (%lat, $t0);
        <STDIN>;
        while (<STDIN>) { my @f = split /\t/; my $end = $f[1] + $f[4] / 1000;
                          $t0 = $f[1] if !defined $t0 || $f[1] < $t0; push @{ $lat{int($end)} }, $f[4]; }
        my @secs = sort { $a <=> $b } keys %lat;
        shift @secs; pop @secs; # the first and the last second are partial
        for my $s (@secs) {
            my @v = sort { $a <=> $b } @{ $lat{$s} };
            printf "%d %d %d %d\n", $s - $t0, scalar @v, $v[int(@v * 0.5)], $v[int(@v * 0.99)];
        }
        open(my $h, ">", "$ARGV[0]/t0") or die; print $h "$t0\n";' "$dir" <"$dir/ab.tsv" >"$dir/series.dat"
    t0=$(cat "$dir/t0")
    awk -v t0="$t0" '{print $1 - t0}' "$dir/hup.log" 2>/dev/null >"$dir/hups.dat" || true
    panels+=("$pair:$dir")
done
[ ${#panels[@]} -gt 0 ] || { echo "plot.sh: no ab logs for $variant in $results" >&2; exit 1; }
{
    echo "set terminal pngcairo size 1400,800 font ',10'"
    echo "set output '$results/$variant.png'"
    echo "set multiplot layout 2,${#panels[@]} title 'bench/seed: $variant (HUPs as grey lines)'"
    echo "set grid; set xlabel 'seconds'"
    for row in rps lat; do
        for p in "${panels[@]}"; do
            pair=${p%%:*} dir=${p#*:}
            hups=""
            while read -r h; do hups+="set arrow from $h, graph 0 to $h, graph 1 nohead lc rgb '#bbbbbb'; "; done <"$dir/hups.dat"
            echo "unset arrow; $hups"
            if [ "$row" = rps ]; then
                echo "set title '$pair: completed requests per second'; set ylabel 'req/s'; set yrange [0:*]"
                echo "plot '$dir/series.dat' using 1:2 with linespoints lw 2 title 'req/s'"
            else
                echo "set title '$pair: latency'; set ylabel 'ms'; set yrange [0:*]"
                echo "plot '$dir/series.dat' using 1:3 with lines lw 2 title 'p50', '' using 1:4 with lines lw 2 title 'p99'"
            fi
        done
    done
    echo "unset multiplot"
} | gnuplot
echo "plot: $results/$variant.png" >&2
