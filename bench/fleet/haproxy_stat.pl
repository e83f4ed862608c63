#!/usr/bin/perl
# haproxy_stat.pl: what bench/fleet/run.sh asks HAProxy's stats socket (perl core only; no
# socat on the machine).
#   haproxy_stat.pl show SOCK                 `show stat` CSV, as HAProxy prints it
#   haproxy_stat.pl status SOCK SERVER        that server's status (UP, DOWN, MAINT, ...)
#   haproxy_stat.pl counters SOCK             "wretr wredis" of the backend (cumulative)
#   haproxy_stat.pl watch SOCK OUT            every 50 ms: "ms server status" lines to OUT,
#                                             until killed (or 15 minutes, its bound)
#   haproxy_stat.pl out OUT FROM_MS TO_MS     per server, ms not UP between the two times
use strict;
use warnings;
use IO::Socket::UNIX;
use Time::HiRes qw(time sleep);

sub show_stat {
    my ($sock) = @_;
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $sock) or return ();
    print $s "show stat\n";
    my @lines = <$s>;
    close $s;
    my @rows;
    my @names;
    for my $line (@lines) {
        chomp $line;
        next if $line eq '';
        if ($line =~ s/^# //) { @names = split /,/, $line, -1; next; }
        my @v = split /,/, $line, -1;
        my %row;
        @row{@names} = @v;
        push @rows, \%row;
    }
    return @rows;
}

my ($cmd, @args) = @ARGV;
$cmd //= '';
if ($cmd eq 'show') {
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $args[0]) or exit 1;
    print $s "show stat\n";
    print while <$s>;
} elsif ($cmd eq 'status') {
    for my $r (show_stat($args[0])) {
        print "$r->{status}\n" if $r->{pxname} eq 'fleet' && $r->{svname} eq $args[1];
    }
} elsif ($cmd eq 'counters') {
    for my $r (show_stat($args[0])) {
        print(($r->{wretr} || 0), ' ', ($r->{wredis} || 0), "\n")
            if $r->{pxname} eq 'fleet' && $r->{svname} eq 'BACKEND';
    }
} elsif ($cmd eq 'watch') {
    open my $out, '>>', $args[1] or die "haproxy_stat: $args[1]: $!\n";
    $out->autoflush(1);
    my $end = time + 900;
    while (time < $end) {
        my $now = int(time * 1000);
        for my $r (show_stat($args[0])) {
            next unless $r->{pxname} eq 'fleet' && $r->{svname} =~ /^h\d$/;
            print $out "$now $r->{svname} $r->{status}\n";
        }
        sleep 0.05;
    }
} elsif ($cmd eq 'out') {
    my ($file, $from, $to) = @args;
    open my $in, '<', $file or die "haproxy_stat: $file: $!\n";
    my (%out, %last);    # per server: ms not UP, and the last sample (time, is_up)
    while (<$in>) {
        my ($t, $sv, $st) = split;
        next unless defined $st;
        if (my $prev = $last{$sv}) {
            my ($a, $b) = ($prev->[0] < $from ? $from : $prev->[0], $t > $to ? $to : $t);
            $out{$sv} += $b - $a if !$prev->[1] && $b > $a;
        }
        $out{$sv} //= 0;
        $last{$sv} = [$t, $st =~ /^UP/ ? 1 : 0];
    }
    print join(' ', map { "$_ $out{$_}" } sort keys %out), "\n";
} else {
    die "usage: haproxy_stat.pl show|status|counters|watch|out ...\n";
}
