package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The main goroutine keeps the main thread: no test's goroutine runs on it.
// A locked goroutine that ends there wedges the thread instead of ending
// it, which would hide a startOn that lets its thread end (and its
// children's Pdeathsig fire).
func init() { runtime.LockOSThread() }

func cpuSet(cpus ...int) unix.CPUSet {
	var s unix.CPUSet
	for _, c := range cpus {
		s.Set(c)
	}
	return s
}

func TestPlanPin(t *testing.T) {
	for _, tc := range []struct {
		allowed []int
		want    pinning
		err     bool
	}{
		{allowed: []int{0, 1}, want: pinning{Generator: 0, Servers: 1}},
		{allowed: []int{2, 5, 7}, want: pinning{Generator: 2, Servers: 7}},
		{allowed: []int{3, 64, 100}, want: pinning{Generator: 3, Servers: 100}},
		{allowed: []int{1}, err: true},
		{allowed: nil, err: true},
	} {
		got, err := planPin(cpuSet(tc.allowed...))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("planPin(%v) = %+v, %v; want %+v, error %v", tc.allowed, got, err, tc.want, tc.err)
		}
	}
}

// twoCPUs skips a test that needs two CPUs to tell pinned from not, and
// answers the CPUs of a pinned run and this process's own CPU list.
func twoCPUs(t *testing.T) (pinning, []string) {
	t.Helper()
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	pin, err := planPin(allowed)
	if err != nil {
		t.Skip(err)
	}
	self, err := threadCPUs(os.Getpid())
	if err != nil || len(self) != 1 {
		t.Skipf("this process's threads do not share one CPU list: %v %v", self, err)
	}
	return pin, self
}

// helper runs this test binary as a helper process of mode (see
// TestPinHelperProcess), its stdout piped.
func helper(t *testing.T, mode string, arg int) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPinHelperProcess$")
	cmd.Env = append(os.Environ(), "LOADBENCH_PIN_HELPER="+mode, "LOADBENCH_PIN_ARG="+strconv.Itoa(arg))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // as opaserver.Start
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, err = os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewReader(out)
}

// line reads the helper's next line (or fails after 30 s).
func line(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		s, err := r.ReadString('\n')
		if err != nil {
			s = "read error: " + err.Error()
		}
		got <- strings.TrimSpace(s)
	}()
	select {
	case s := <-got:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("the helper said nothing for 30 s")
		return ""
	}
}

// A server started by startOn runs, every thread of it, on that CPU only,
// with GOMAXPROCS 1; the starting thread goes back to where it was; and the
// server outlives the start (its Pdeathsig follows the thread that forked
// it, which must not end).
func TestStartOnPinsEveryThreadOfTheChild(t *testing.T) {
	pin, self := twoCPUs(t)
	cmd, out := helper(t, "child", 0)
	if err := startOn(pin.Servers, cmd.Start); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-done
	}()
	if got := line(t, out); got != "GOMAXPROCS 1" {
		t.Errorf("the child says %q, want GOMAXPROCS 1", got)
	}
	if err := checkPinned("child", cmd.Process.Pid, pin.Servers); err != nil {
		t.Error(err)
	}
	if masks, _ := threadCPUs(cmd.Process.Pid); len(masks) != 1 {
		t.Errorf("the child's threads: %v", masks)
	}
	if got, err := threadCPUs(os.Getpid()); err != nil || !slices.Equal(got, self) {
		t.Errorf("this process's threads may run on %v after startOn (%v), want %v as before", got, err, self)
	}
	// Threads come and go here (a thread handed back to the runtime would
	// be taken by one of these, all locked at once, and end); the child
	// stays.
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			runtime.LockOSThread() // ends with its thread
			time.Sleep(10 * time.Millisecond)
		})
	}
	wg.Wait()
	runtime.GC()
	select {
	case err := <-done:
		done <- err
		t.Fatalf("the child died after startOn returned: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := checkPinned("child", cmd.Process.Pid, pin.Servers); err != nil {
		t.Error(err)
	}
}

// pinSelf puts every thread of the process, those made later too, on the
// generator's CPU with GOMAXPROCS 1, and undo puts them back.
func TestPinSelfRestrictsEveryThread(t *testing.T) {
	pin, self := twoCPUs(t)
	cmd, out := helper(t, "self", pin.Generator)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	want := []string{
		fmt.Sprintf("pinned GOMAXPROCS 1 threads [%d]", pin.Generator),
		fmt.Sprintf("undone GOMAXPROCS %d threads %v", runtime.GOMAXPROCS(0), self),
	}
	for _, w := range want {
		if got := line(t, out); got != w {
			t.Errorf("the helper says %q, want %q", got, w)
		}
	}
}

// TestPinHelperProcess is the helper process of the tests above; it does
// nothing in a normal run.
func TestPinHelperProcess(t *testing.T) {
	mode := os.Getenv("LOADBENCH_PIN_HELPER")
	if mode == "" {
		t.Skip("a helper process of the pin tests")
	}
	arg, _ := strconv.Atoi(os.Getenv("LOADBENCH_PIN_ARG"))
	// Threads: goroutines locked to threads of their own while they sleep.
	threadsFor := func(n int, d time.Duration) *sync.WaitGroup {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				time.Sleep(d)
			})
		}
		return &wg
	}
	switch mode {
	case "spin": // arg ms, then wait to be killed
		for start := time.Now(); time.Since(start) < time.Duration(arg)*time.Millisecond; {
		}
		fmt.Println("spun")
		time.Sleep(time.Minute)
	case "child":
		threadsFor(4, 50*time.Millisecond).Wait()
		fmt.Printf("GOMAXPROCS %d\n", runtime.GOMAXPROCS(0))
		time.Sleep(time.Minute) // killed by the test
	case "self":
		before := threadsFor(4, 200*time.Millisecond)
		undo, err := pinSelf(arg)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		threadsFor(4, 50*time.Millisecond).Wait() // made after: inherit
		before.Wait()
		masks, err := threadCPUs(os.Getpid())
		fmt.Printf("pinned GOMAXPROCS %d threads %v%s\n", runtime.GOMAXPROCS(0), masks, errText(err))
		if err := undo(); err != nil {
			fmt.Println("error:", err)
			return
		}
		masks, err = threadCPUs(os.Getpid())
		fmt.Printf("undone GOMAXPROCS %d threads %v%s\n", runtime.GOMAXPROCS(0), masks, errText(err))
	}
}

func errText(err error) string {
	if err != nil {
		return " " + err.Error()
	}
	return ""
}

// The report says where the servers and the generator ran, and in a
// pinned run calls out a generator that saturated its CPU.
func TestReportSaysTheCPUMode(t *testing.T) {
	r := &report{Conns: 16, RK: summary{Name: "rulekeeper", Throughput: 3000}, OPA: summary{Name: "OPA server", Throughput: 1000},
		Busy: []busy{{Server: "rulekeeper", ServerCores: 0.62, GeneratorCores: 0.99, ServerWait: 0.01},
			{Server: "OPA server", ServerCores: 0.58, ServerWait: 0.4, GeneratorCores: 0.4, GeneratorWait: 0.03}}}
	md := r.markdown()
	for _, s := range []string{"**shared**", "rulekeeper 0.62 (waited 0.01), the generator 0.99 (waited 0.00); OPA server 0.58 (waited 0.40), the generator 0.40 (waited 0.03)"} {
		if !strings.Contains(md, s) {
			t.Errorf("shared: the report lacks %q:\n%s", s, md)
		}
	}
	if strings.Contains(md, "**pinned**") || strings.Contains(md, "saturated") {
		t.Errorf("shared: the report speaks of pinning:\n%s", md)
	}
	r.Pin = &pinning{Generator: 0, Servers: 1}
	md = r.markdown()
	for _, s := range []string{"**pinned** (`-pin`): every server under test on CPU 1", "generator (every thread of this process, GOMAXPROCS 1) on CPU 0",
		"the generator saturated its CPU while rulekeeper did not (0.62)"} {
		if !strings.Contains(md, s) {
			t.Errorf("pinned: the report lacks %q:\n%s", s, md)
		}
	}
	if strings.Contains(md, "while OPA server did not") {
		t.Errorf("pinned: OPA's generator was not saturated:\n%s", md)
	}
	if !strings.Contains(md, "OPA server ran 58 % of the time and its threads waited 40 %") || strings.Contains(md, "rulekeeper ran") {
		t.Errorf("pinned: only OPA waited for its CPU:\n%s", md)
	}
}

// Two processes that spin on one CPU wait for it in turn, and
// runQueueWait sees it; a process that is not there waited 0.
func TestRunQueueWait(t *testing.T) {
	pin, _ := twoCPUs(t)
	var pids []int
	for range 2 {
		cmd, out := helper(t, "spin", 400)
		if err := startOn(pin.Servers, cmd.Start); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}()
		pids = append(pids, cmd.Process.Pid)
		go func() { _, _ = out.ReadString('\n') }()
	}
	// Both spin for 400 ms: on one CPU, each waits for it about half of
	// that time.
	deadline := time.Now().Add(20 * time.Second)
	var waited time.Duration
	for time.Now().Before(deadline) {
		waited = runQueueWait(pids[0]) + runQueueWait(pids[1])
		if waited >= 200*time.Millisecond {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if waited < 200*time.Millisecond {
		t.Errorf("two spinners on CPU %d waited %v together", pin.Servers, waited)
	}
	if w := runQueueWait(1 << 30); w != 0 {
		t.Errorf("no such process: %v", w)
	}
}
