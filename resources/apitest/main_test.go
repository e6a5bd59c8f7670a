package apitest_test

import (
	"flag"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/servicetest"
	"github.com/rulekeeper/rulekeeper/resources/storetest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests wait on their services, the database server and their
	// own timers more than they compute: GOMAXPROCS parallel tests (the
	// default) left the cores idle for half of the package's run. A
	// -parallel given on the command line wins.
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(4*runtime.GOMAXPROCS(0)))
	}
	// A sixth of the CPU went to the garbage collector; the heap of a
	// hundred short-lived services is small next to the machine's memory.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	storetest.Main(m)
}

// errBody is the error body of every 4xx and 5xx.
type errBody = servicetest.Error
