#!/usr/bin/perl
# summarize.pl RESULTS: a markdown table of medians per variant and pair from run.sh's
# summary lines, then the ratios, each a median of per-round ratios (paired in one round).
use strict;
use warnings;
use utf8;
binmode STDOUT, ':encoding(UTF-8)';

my (%runs, @order);
while (<>) {
    next unless /^seed /;
    my %r = map { /^([^=]+)=(.*)$/ ? ($1, $2) : () } split;
    my $key = "$r{name}/$r{pair}";
    push @order, $key unless $runs{$key};
    push @{ $runs{$key} }, \%r;
}

sub median { my @v = sort { $a <=> $b } grep { defined && $_ ne 'na' } @_; return 'na' unless @v;
             my $m = int(@v / 2); @v % 2 ? $v[$m] : ($v[$m - 1] + $v[$m]) / 2 }
sub fmt { my ($v, $d) = @_; $v eq 'na' ? 'na' : $d ? sprintf("%.${d}f", $v) : sprintf('%.0f', $v) }
sub col { my ($key, $f) = @_; median(map { $_->{$f} } @{ $runs{$key} }) }

my @cols = (['req/s', 'rps', 0], ['failed', 'failed', 0], ['p50 ms', 'p50', 0], ['p99 ms', 'p99', 0],
            ['max ms', 'max', 0], ['HUPs', 'hups_handled', 0], ['gens', 'gens', 0],
            ['restart ms', 'restart_ms_med', 1], ['drain ms', 'drain_ms_med', 1],
            ['starter kB', 'starter_rss_kb', 0], ['1 worker kB', 'worker_rss_kb', 0],
            ['all workers kB', 'workers_rss_kb', 0], ['worker CPU µs/req', 'worker_cpu_us_per_req', 1]);
print "| variant | pair | runs | ", join(' | ', map { $_->[0] } @cols), " |\n";
print "|", join('|', ('---') x (@cols + 3)), "|\n";
for my $key (@order) {
    my ($v, $p) = split m{/}, $key;
    my @runs = @{ $runs{$key} };
    my $failed_all = join(',', map { $_->{failed} } @runs);
    print "| $v | $p | ", scalar(@runs), " | ",
        join(' | ', map { my $m = col($key, $_->[1]); $_->[1] eq 'failed' ? "$m [$failed_all]" : fmt($m, $_->[2]) } @cols),
        " |\n";
}

# paired ratios within a round
sub by_round { my $key = shift; my %h; $h{ $_->{round} } = $_ for @{ $runs{$key} || [] }; \%h }
sub ratio { my ($ka, $kb, $f) = @_; my ($a, $b) = (by_round($ka), by_round($kb));
            median(map { $b->{$_}{$f} && $b->{$_}{$f} ne 'na' && $a->{$_}{$f} ne 'na' ? $a->{$_}{$f} / $b->{$_}{$f} : 'na' }
                   grep { $b->{$_} } keys %$a) }
print "\nRatios (median of per-round ratios):\n\n| ratio | value |\n|---|---|\n";
my %names = map { (split m{/})[0] => 1 } @order;
for my $v (sort keys %names) {
    next unless $runs{"$v/baton"} && $runs{"$v/anchor"};
    printf "| %s req/s, baton / anchor | %s |\n", $v, fmt(ratio("$v/baton", "$v/anchor", 'rps'), 3);
}
for my $v (qw(seed interval hup0.2 hup0.05)) {
    next unless $runs{"$v/baton"} && $runs{'nohup/baton'};
    printf "| %s / nohup req/s, baton | %s |\n", $v, fmt(ratio("$v/baton", 'nohup/baton', 'rps'), 3);
}
if ($runs{'seed/anchor'} && $runs{'nohup/anchor'}) {
    printf "| seed / nohup req/s, anchor | %s |\n", fmt(ratio('seed/anchor', 'nohup/anchor', 'rps'), 3);
}
if ($runs{'seed/baton'} && $runs{'interval/baton'}) {
    printf "| seed (notify) / interval req/s, baton | %s |\n", fmt(ratio('seed/baton', 'interval/baton', 'rps'), 3);
}
# Over TLS: HUPs against the TLS run without them (its ceiling), and what TLS costs.
if ($runs{'tls/baton'} && $runs{'tlsnohup/baton'}) {
    printf "| tls / tlsnohup req/s, baton (HUP every second over TLS / its ceiling) | %s |\n",
        fmt(ratio('tls/baton', 'tlsnohup/baton', 'rps'), 3);
}
if ($runs{'tls/baton'} && $runs{'seed/baton'}) {
    printf "| tls / seed req/s, baton (a full handshake per request) | %s |\n",
        fmt(ratio('tls/baton', 'seed/baton', 'rps'), 3);
}
# Against the ceiling: what ab allows on this machine with a worker that does nothing else.
if ($runs{'ceiling/bare'}) {
    for my $k (qw(seed/baton seed/anchor nohup/baton nohup/anchor)) {
        next unless $runs{$k};
        my ($v, $p) = split m{/}, $k;
        printf "| %s req/s, %s / ceiling | %s |\n", $v, $p, fmt(ratio($k, 'ceiling/bare', 'rps'), 3);
    }
    if ($runs{'seed/anchor'}) {
        printf "| 1.10 × seed anchor / ceiling (above 1: the 1.10× target is out of ab's reach) | %s |\n",
            fmt(1.10 * ratio('seed/anchor', 'ceiling/bare', 'rps'), 3);
    }
}
