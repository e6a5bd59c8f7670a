package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Pinning (-pin): every server under test runs on one CPU and the load
// generator (this process, every thread of it) on another, as servers are
// benchmarked with wrk on separate cores. Without it (the shared mode, the
// default) the generator and the server it drives share all the machine's
// CPUs, and the generator's CPU per request is taken from the server's
// throughput.
//
// A child inherits the CPU affinity of the thread that forks it, and a Go
// program started on one CPU sizes GOMAXPROCS to 1 itself: the servers are
// started from a thread locked to the servers' CPU (startOn), so rulekeeper,
// the baseline and OPA get the same treatment and no wrapper process (taskset)
// stands between the bench and the pid it measures.

// pinning is the CPUs of a pinned run.
type pinning struct {
	Generator, Servers int
}

// planPin picks the CPUs of a pinned run from the CPUs this process may
// run on (its affinity mask): the generator the first, the servers the
// last. Fewer than two CPUs cannot be split.
func planPin(allowed unix.CPUSet) (pinning, error) {
	var cpus []int
	for c := range len(allowed) * 64 {
		if allowed.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		return pinning{}, fmt.Errorf("-pin needs two CPUs, this process may run on %d (%v)", len(cpus), cpus)
	}
	return pinning{Generator: cpus[0], Servers: cpus[len(cpus)-1]}, nil
}

// startOn runs start, which starts a child process, on a thread of its own
// restricted to cpu: the child and every thread it makes inherit that
// affinity. The thread then stays locked to a goroutine that never ends
// (its affinity put back): the servers are started with Pdeathsig, which
// the kernel sends when the thread that forked them ends, and a thread
// handed back to the runtime may be taken by any goroutine that locks it
// and ends locked, which ends the thread.
func startOn(cpu int, start func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var old unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("read this thread's CPU affinity: %w", err)
			return
		}
		var one unix.CPUSet
		one.Set(cpu)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("pin the starting thread to CPU %d: %w", cpu, err)
			return
		}
		err := start()
		if rerr := unix.SchedSetaffinity(0, &old); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restore the starting thread's CPU affinity: %w", rerr))
		}
		errc <- err
		select {} // keeps the thread: see above
	}()
	return <-errc
}

// pinSelf restricts every thread of this process to cpu and GOMAXPROCS to
// 1. Threads made later inherit the affinity of the thread that makes
// them, so it passes over /proc/self/task until a pass finds every thread
// already on cpu. It answers how to undo it (every thread back on the CPUs
// the calling thread had, and GOMAXPROCS as it was).
func pinSelf(cpu int) (undo func() error, err error) {
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	one.Set(cpu)
	if err := setThreads(one); err != nil {
		return nil, fmt.Errorf("pin the load generator to CPU %d: %w", cpu, err)
	}
	procs := runtime.GOMAXPROCS(1)
	return func() error {
		runtime.GOMAXPROCS(procs)
		return setThreads(old)
	}, nil
}

// setThreads sets the affinity of every thread of this process to set.
func setThreads(set unix.CPUSet) error {
	for pass := 0; pass < 100; pass++ {
		tids, err := threads(os.Getpid())
		if err != nil {
			return err
		}
		changed := false
		for _, tid := range tids {
			var cur unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &cur); err != nil {
				continue // the thread has exited
			}
			if cur == set {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("thread %d: %w", tid, err)
			}
			changed = true
		}
		if !changed {
			return nil
		}
	}
	return errors.New("threads kept appearing with another CPU affinity")
}

// threads are the thread ids of process pid.
func threads(pid int) ([]int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// threadCPUs answers, for every thread of process pid, the CPUs it may run
// on, as a sorted list of distinct masks ("1", "0-1", …, as the kernel
// prints Cpus_allowed_list): one entry when all its threads agree.
func threadCPUs(pid int) ([]string, error) {
	tids, err := threads(pid)
	if err != nil {
		return nil, err
	}
	var masks []string
	for _, tid := range tids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
		if err != nil {
			continue // the thread has exited
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				if m := strings.TrimSpace(v); !slices.Contains(masks, m) {
					masks = append(masks, m)
				}
			}
		}
	}
	if len(masks) == 0 {
		return nil, fmt.Errorf("no thread of process %d could be read", pid)
	}
	slices.Sort(masks)
	return masks, nil
}

// checkPinned makes sure every thread of process pid may run on cpu only.
func checkPinned(name string, pid, cpu int) error {
	masks, err := threadCPUs(pid)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if want := strconv.Itoa(cpu); len(masks) != 1 || masks[0] != want {
		return fmt.Errorf("%s (pid %d) is not pinned to CPU %d: its threads may run on %v", name, pid, cpu, masks)
	}
	return nil
}
