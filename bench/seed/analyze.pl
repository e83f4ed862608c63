#!/usr/bin/perl
# analyze.pl OUT_DIR TOOL: key=value figures of one case.sh run, from its logs:
#   load.out (ab or wrk), starter.log (time-stamped start_server log, Server::Starter's lines),
#   hup.log (time of every HUP sent), mem.log (RSS samples: t starter n_workers sum max).
use strict;
use warnings;

my ($out, $tool) = @ARGV;
my %r;

sub slurp { my $f = shift; open(my $h, '<', $f) or return ''; local $/; my $s = <$h>; close $h; $s }
sub median { my @v = sort { $a <=> $b } @_; return 'na' unless @v; my $m = int(@v / 2);
             @v % 2 ? $v[$m] : ($v[$m - 1] + $v[$m]) / 2 }
sub max { my $m; for (@_) { $m = $_ if !defined $m || $_ > $m } defined $m ? $m : 'na' }
sub ms { my ($v, $u) = @_; $u eq 'us' || $u eq "\x{b5}s" ? $v / 1000 : $u eq 's' ? $v * 1000 : $v }

# 1. the load tool
my $load = slurp("$out/load.out");
if ($tool eq 'ab') {
    ($r{rps}) = $load =~ /Requests per second:\s+([\d.]+)/;
    ($r{complete}) = $load =~ /Complete requests:\s+(\d+)/;
    ($r{failed}) = $load =~ /Failed requests:\s+(\d+)/;
    @r{qw(connect receive length exceptions)} =
        $load =~ /\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)/;
    $r{$_} //= 0 for qw(connect receive length exceptions); # printed only when something failed
    ($r{non2xx}) = $load =~ /Non-2xx responses:\s+(\d+)/;
    ($r{keepalive_reqs}) = $load =~ /Keep-Alive requests:\s+(\d+)/;
    $r{keepalive_reqs} //= 0;
    ($r{mean_ms}) = $load =~ /Time per request:\s+([\d.]+) \[ms\] \(mean\)/;
    ($r{p50}) = $load =~ /^\s+50%\s+(\d+)/m;
    ($r{p99}) = $load =~ /^\s+99%\s+(\d+)/m;
    ($r{max}) = $load =~ /^\s+100%\s+(\d+)/m;
    ($r{tls_proto}) = $load =~ /^SSL\/TLS Protocol:\s+(\S+)/m; # e.g. TLSv1.2,ECDHE-RSA-AES256-GCM-SHA384,2048,256
} else {
    ($r{rps}) = $load =~ /Requests\/sec:\s+([\d.]+)/;
    ($r{complete}) = $load =~ /(\d+) requests in/;
    my @e = $load =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/;
    @r{qw(connect read write timeout)} = @e ? @e : (0, 0, 0, 0);
    $r{failed} = 0; $r{failed} += $_ for @r{qw(connect read write timeout)};
    ($r{non2xx}) = $load =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    for my $p (50, 99) {
        my ($v, $u) = $load =~ /^\s+$p(?:\.000)?%\s+([\d.]+)(us|ms|s)/m;
        $r{"p$p"} = defined $v ? sprintf('%.1f', ms($v, $u)) : 'na';
    }
    my ($v, $u) = $load =~ /Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s)/;
    $r{max} = defined $v ? sprintf('%.1f', ms($v, $u)) : 'na';
    ($v, $u) = $load =~ /Latency\s+([\d.]+)(us|ms|s)/;
    $r{mean_ms} = defined $v ? sprintf('%.1f', ms($v, $u)) : 'na';
}
$r{non2xx} //= 0;

# 2. the starter's log: restarts, generations, restart latency, drain
my (@hup_t, @restart_ms, @drain_ms, %signalled, @pending);
my ($gens, $handled, $failed_starts) = (0, 0, 0);
my ($stop_t) = slurp("$out/stop.t") =~ /([\d.]+)/;
$stop_t //= 9e99;
for my $line (split /\n/, slurp("$out/starter.log")) {
    my ($t, $text) = $line =~ /^([\d.]+) (.*)$/ or next;
    if ($text =~ /^received HUP/) { $handled++; push @hup_t, $t; }
    elsif ($text =~ /^starting new worker \d+/) { $gens++; }
    elsif ($text =~ /to old workers:([\d,]+|none)/) { @pending = $1 eq 'none' ? () : split /,/, $1; }
    elsif ($text =~ /^killing old workers/) {
        push @restart_ms, ($t - shift(@hup_t)) * 1000 if @hup_t;
        @hup_t = ();
        $signalled{$_} //= $t for @pending;
    }
    elsif ($text =~ /^old worker (\d+) died/) {
        push @drain_ms, ($t - $signalled{$1}) * 1000 if defined $signalled{$1};
    }
    elsif ($text =~ /seems to have failed to start|died unexpectedly|failed to exec/) { $failed_starts++; }
    # a worker's own drain line wins over the starter's view (Perl reaps late)
    if ($t < $stop_t && $text =~ /shutdown returned after ([\d.]+) ?(ms|us|\x{b5}s|s)\b/i) { push @{ $r{own_drain} }, ms($1, $2); }
}
$r{hups_sent} = () = slurp("$out/hup.log") =~ /\n/g;
$r{hups_handled} = $handled;
$r{gens} = $gens;
$r{failed_starts} = $failed_starts;
$r{restart_ms_med} = median(@restart_ms) eq 'na' ? 'na' : sprintf('%.1f', median(@restart_ms));
$r{restart_ms_max} = max(@restart_ms) eq 'na' ? 'na' : sprintf('%.1f', max(@restart_ms));
my @drain = $r{own_drain} ? @{ delete $r{own_drain} } : @drain_ms;
$r{drain_ms_med} = @drain ? sprintf('%.1f', median(@drain)) : 'na';
$r{drain_ms_max} = @drain ? sprintf('%.1f', max(@drain)) : 'na';

# 3. memory: starter RSS (max), one worker max, all live workers at once (max), kB
my ($srss, $wmax, $wsum, $wn) = (0, 0, 0, 0);
for (split /\n/, slurp("$out/mem.log")) {
    my (undef, $s, $n, $sum, $m) = split;
    $srss = $s if $s > $srss; $wmax = $m if $m > $wmax; $wsum = $sum if $sum > $wsum; $wn = $n if $n > $wn;
}
@r{qw(starter_rss_kb worker_rss_kb workers_rss_kb workers_max)} = ($srss, $wmax, $wsum, $wn);

my @keys = qw(rps complete failed non2xx mean_ms p50 p99 max hups_sent hups_handled gens failed_starts
              restart_ms_med restart_ms_max drain_ms_med drain_ms_max starter_rss_kb worker_rss_kb
              workers_rss_kb workers_max);
push @keys, $tool eq 'ab' ? qw(connect receive length exceptions keepalive_reqs tls_proto) : qw(connect read write timeout);
print join(' ', map { "$_=" . ($r{$_} // 'na') } @keys), "\n";
