// Command tenantgrowth grows one tenant in steps (users, apps and spaces
// inserted in bulk into the store) and, at each step, times through the
// HTTP API the writes whose cost used to grow with the tenant: a new user's
// login (with its dynamic license assignment), app create, space create,
// member add and license assign. It prints the p50 curve; see README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	steps := flag.String("steps", "1000,10000,100000", "tenant sizes in users (apps = users, spaces = users/10), comma-separated")
	samples := flag.Int("samples", 21, "timed operations of each kind per step (at most 64)")
	trace := flag.Bool("trace", false, "print the database commands of each operation's last sample at each step")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured requests at the last step to this file")
	deadline := flag.Duration("deadline", 0, "the server's database deadline for decisions and writes (0: its defaults)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var o Options
	for _, s := range strings.Split(*steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 100 {
			fmt.Fprintf(os.Stderr, "tenantgrowth: bad step %q (a number of users ≥ 100)\n", s)
			os.Exit(2)
		}
		o.Steps = append(o.Steps, n)
	}
	o.Samples, o.Logger, o.Deadline, o.Trace, o.CPUProfile = min(*samples, 64), log, *deadline, *trace, *cpuprofile
	dir, err := os.MkdirTemp("", "tenantgrowth-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	o.DataDir = dir
	rows, err := Run(context.Background(), o)
	report(os.Stdout, rows)
	if *trace {
		for _, r := range rows {
			for _, op := range Ops {
				fmt.Printf("\n%d users, %s:\n  %s\n", r.Users, op, strings.Join(r.Trace[op], "\n  "))
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tenantgrowth:", err)
		os.Exit(1)
	}
}

// report prints the curve as a Markdown table (p50, max in brackets),
// then the database round trips per request (median commands / documents
// returned).
func report(w io.Writer, rows []Row) {
	fmt.Fprintf(w, "| users | apps | spaces | populate |")
	for _, op := range Ops {
		fmt.Fprintf(w, " %s p50 (max) |", op)
	}
	fmt.Fprintf(w, "\n|---|---|---|---|%s\n", strings.Repeat("---|", len(Ops)))
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %d | %d | %s |", r.Users, r.Apps, r.Spaces, r.Populate.Round(time.Second))
		for _, op := range Ops {
			fmt.Fprintf(w, " %s (%s) |", ms(r.P50[op]), ms(r.Max[op]))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n| users | round trips / docs read:")
	for _, op := range Ops {
		fmt.Fprintf(w, " %s |", op)
	}
	fmt.Fprintf(w, "\n|---|---|%s\n", strings.Repeat("---|", len(Ops)-1))
	for _, r := range rows {
		fmt.Fprintf(w, "| %d |", r.Users)
		for _, op := range Ops {
			fmt.Fprintf(w, " %d / %d |", r.Commands[op], r.Docs[op])
		}
		fmt.Fprintln(w)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
