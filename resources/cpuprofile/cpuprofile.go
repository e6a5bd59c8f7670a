// Package cpuprofile writes a CPU profile of a stretch of a program's run
// to a file (read it with go tool pprof): serve --cpu-profile and the
// benchmarks' profile flags.
package cpuprofile

import (
	"os"
	"runtime/pprof"
)

// Start profiles the process's CPU into a new file at path until the
// returned function is called (it closes the file). One profile at a time
// per process: Start fails while another runs.
func Start(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
